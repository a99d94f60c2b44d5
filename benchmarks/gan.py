"""Adversarial fine-tuning with data consistency (review Eq. 15) and unpaired CycleGAN training (Eq. 17–18) of the
shipped MoDL, against fine-tuning on the content loss alone.

Both arms start from the ``modl``/``brain`` weights and are fine-tuned for the same steps on the same brain slices
(domain-randomised generator, 96², 8 coils, noise 0.02, ESPIRiT maps, fastMRI random masks, R=4 or R=8 drawn per
example; targets: the noise-free object combined with the same maps), Adam 5e-5, complex ℓ1:

  content only   AdversarialTrainer(adversarial_weight=0): the discriminator learns, the generator ignores it
  + GAN          the same with an LSGAN term of weight ``--weight`` (PatchGAN discriminator, Adam 2e-4)
  CycleGAN       no pairs: the scans of the first half of the training subjects and the fully sampled images of the
                 other half (``training.CycleTrainer``: image and k-space cycle losses, WGAN-GP of weight 0.001)

Reported on held-out test subjects: PSNR, SSIM (fastMRI definitions, magnitudes) and the high-frequency energy
ratio HFER = Σ_{|k| > k_max/4} |F|x̂||² / Σ_{|k| > k_max/4} |F|x||² (1: as much fine detail as the reference; below 1:
blurrier; above 1: sharper or noisier), averaged over slices; and a figure.

    python benchmarks/gan.py [--quick] [--steps 400] [--weight 0.01]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.brain import brain_slices, undersample  # noqa: E402
from tfmri_zoo.metrics import psnr, ssim  # noqa: E402
from tfmri_zoo.physics.operators import make_operator  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc  # noqa: E402
from tfmri_zoo.training import AdversarialTrainer, ComplexL1, CycleTrainer, PatchDiscriminator  # noqa: E402
from report import write_json  # noqa: E402


def high_frequency_ratio(images, reference):
    height, width = reference.shape[-2:]
    ky, kx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    outer = np.sqrt(ky ** 2 + kx ** 2) > 0.125                     # beyond a quarter of k_max (0.5 cycles/pixel)
    energy = lambda x: np.sum(np.abs(np.fft.fft2(np.abs(x)))[..., outer] ** 2, axis=-1)  # noqa: E731
    return float(np.mean(energy(images) / energy(reference)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="32², 4 coils, one subject per split, 2 steps, MoDL with 2 unrolls × 2 CG iterations")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--weight", type=float, default=0.01)
    parser.add_argument("--out", default="out/gan")
    args = parser.parse_args(argv)
    start = time.time()
    shape, counts, steps, copies = (((32, 32), {"train": 1, "test": 1}, 2, 1) if args.quick
                                    else ((96, 96), {"train": 16, "test": 4}, args.steps, 4))
    epochs, coils = (2, 4) if args.quick else (4, 8)
    unrolls = {"iterations": 2, "cg_iterations": 2} if args.quick else {}   # quick: 2 of the 4 (shared) unrolls
    data = {split: brain_slices(split, n, shape, seed=700 + 50 * i, coils=coils)
            for i, (split, n) in enumerate(counts.items())}
    mask_func = RandomMaskFunc([0.08, 0.04], [4, 8])                 # R = 4 or 8 (centre 0.08 / 0.04) per example
    (train_inputs, train), (test_inputs, test) = (undersample(data[split], mask_func, seed=seed, copies=n)
                                                  for split, seed, n in (("train", 1, copies), ("test", 2, 1)))
    train_target, test_target = train["reference"], test["reference"]
    print(f"data: {len(train_target)} training / {len(test_target)} test examples {shape} "
          f"({time.time() - start:.0f} s)", flush=True)
    results, images = {}, {}
    for name, weight in (("content only", 0.0), (f"+ GAN (LSGAN, w={args.weight:g})", args.weight)):
        keras.utils.set_random_seed(0)
        trainer = AdversarialTrainer(models.get("modl", weights="brain", **unrolls),
                                     PatchDiscriminator(filters=32, levels=3), gan="lsgan", adversarial_weight=weight)
        trainer.compile(generator_optimizer=keras.optimizers.Adam(5e-5),
                        discriminator_optimizer=keras.optimizers.Adam(2e-4), content_loss=ComplexL1())
        data_set = tf.data.Dataset.from_tensor_slices((train_inputs, train_target)).shuffle(1024, seed=0)
        history = trainer.fit(data_set.repeat().batch(4), steps_per_epoch=max(1, steps // epochs), epochs=epochs,
                              verbose=0).history
        output = trainer.generator.predict(test_inputs, batch_size=4, verbose=0)
        images[name] = output
        results[name] = {"psnr": float(psnr(np.abs(test_target), np.abs(output))),
                         "ssim": float(ssim(np.abs(test_target), np.abs(output))),
                         "hfer": high_frequency_ratio(output, test_target),
                         "history": {k: [float(x) for x in v] for k, v in history.items()}}
        row = results[name]
        print(f"{name:>24}: PSNR {row['psnr']:.2f} dB  SSIM {row['ssim']:.3f}  HFER {row['hfer']:.3f}  "
              f"(discriminator loss {history['discriminator'][0]:.3f} → {history['discriminator'][-1]:.3f})",
              flush=True)
    half = len(train_target) // 2
    unpaired = {"image": train_target[half:], "sensitivities": train_inputs["sensitivities"][half:]}
    scans = {k: v[:half] for k, v in train_inputs.items()}
    keras.utils.set_random_seed(0)
    cycle = CycleTrainer(models.get("modl", weights="brain", **unrolls), PatchDiscriminator(filters=32, levels=3),
                         adversarial_weight=0.001)
    cycle.compile(generator_optimizer=keras.optimizers.Adam(5e-5), discriminator_optimizer=keras.optimizers.Adam(2e-4))
    unpaired_set = tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(scans).shuffle(1024, seed=1),
                                        tf.data.Dataset.from_tensor_slices(unpaired).shuffle(1024, seed=2)))
    history = cycle.fit(unpaired_set.repeat().batch(4), steps_per_epoch=max(1, steps // epochs), epochs=epochs,
                        verbose=0).history
    output = cycle.generator.predict(test_inputs, batch_size=4, verbose=0)
    images["CycleGAN (unpaired)"] = output
    results["CycleGAN (unpaired)"] = {"psnr": float(psnr(np.abs(test_target), np.abs(output))),
                                      "ssim": float(ssim(np.abs(test_target), np.abs(output))),
                                      "hfer": high_frequency_ratio(output, test_target),
                                      "history": {k: [float(x) for x in v] for k, v in history.items()}}
    row = results["CycleGAN (unpaired)"]
    print(f"{'CycleGAN (unpaired)':>24}: PSNR {row['psnr']:.2f} dB  SSIM {row['ssim']:.3f}  HFER {row['hfer']:.3f}  "
          f"(image cycle {history['image_cycle'][0]:.3f} → {history['image_cycle'][-1]:.3f})", flush=True)
    shipped = models.get("modl", weights="brain", **unrolls).predict(test_inputs, batch_size=4, verbose=0)
    results["shipped, not fine-tuned"] = {"psnr": float(psnr(np.abs(test_target), np.abs(shipped))),
                                          "ssim": float(ssim(np.abs(test_target), np.abs(shipped))),
                                          "hfer": high_frequency_ratio(shipped, test_target)}
    zero_filled = make_operator(test_inputs["mask"], test_inputs["sensitivities"]).adjoint(
        test_inputs["kspace"]).numpy()
    results["zero-filled"] = {"psnr": float(psnr(np.abs(test_target), np.abs(zero_filled))),
                              "ssim": float(ssim(np.abs(test_target), np.abs(zero_filled))),
                              "hfer": high_frequency_ratio(zero_filled, test_target)}
    print(f"{'shipped, not fine-tuned':>24}: PSNR {results['shipped, not fine-tuned']['psnr']:.2f} dB  SSIM "
          f"{results['shipped, not fine-tuned']['ssim']:.3f}  HFER {results['shipped, not fine-tuned']['hfer']:.3f}")
    print(f"{'zero-filled':>24}: PSNR {results['zero-filled']['psnr']:.2f} dB  SSIM "
          f"{results['zero-filled']['ssim']:.3f}  HFER {results['zero-filled']['hfer']:.3f}")
    os.makedirs(args.out, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("reference", test_target[1])] + [(name, image[1]) for name, image in images.items()]
    figure, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for axis, (name, image) in zip(axes, panels):
        axis.imshow(np.abs(image), cmap="gray", vmin=0, vmax=np.abs(test_target[1]).max())
        axis.set_title(name, fontsize=8)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "gan.png"), dpi=100)
    path = os.path.join(args.out, "gan.json")
    write_json(path, {"results": results, "steps": steps, "weight": args.weight, "shape": shape, "subjects": counts,
                          "seconds": round(time.time() - start, 1)})
    print(f"wrote {path} and gan.png ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
