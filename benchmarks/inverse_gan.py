"""Inverse GAN (review Eq. 16) against the Deep Image Prior, ℓ1-wavelet and CG-SENSE on held-out brain scans.

An unconditional image generator (``training.ImageGenerator``, latent dimension 64) is trained with LSGAN on the
fully sampled, noise-free images of the training subjects (64², domain-randomised contrast/orientation; no k-space);
each test scan (8 coils, noise 0.02, ESPIRiT maps, fastMRI random mask R=4, centre 0.08) is then reconstructed by
``training.inverse_gan`` (latent search, then latent + weights; the iterate with the lowest error on 10 % held-out
k-space), by ``training.deep_image_prior`` (same number of iterations and hold-out), by the ℓ1-wavelet and CG-SENSE
(λ chosen on the validation subjects). PSNR / SSIM against the noise-free object, per slice, averaged.

    python benchmarks/inverse_gan.py [--quick] [--gan-steps 3000] [--iterations 400]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmri_zoo.data.brain import brain_slices, undersample  # noqa: E402
from tfmri_zoo.metrics import psnr, ssim  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc  # noqa: E402
from tfmri_zoo.recon import l1_wavelet, sense  # noqa: E402
from tfmri_zoo.training import ImageGenerator, deep_image_prior, inverse_gan, train_image_gan  # noqa: E402
from report import write_json  # noqa: E402


def score(images, reference):
    return (float(np.mean([psnr(np.abs(r)[None], np.abs(x)[None]) for x, r in zip(images, reference)])),
            float(np.mean([ssim(np.abs(r)[None], np.abs(x)[None]) for x, r in zip(images, reference)])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32², few subjects, steps and iterations")
    parser.add_argument("--gan-steps", type=int, default=3000)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--out", default="out/inverse_gan")
    args = parser.parse_args(argv)
    start = time.time()
    if args.quick:
        shape, counts, gan_steps, iterations, test_slices = (32, 32), {"train": 1, "val": 1, "test": 1}, 3, 6, 1
    else:
        shape, counts, gan_steps, iterations, test_slices = (64, 64), {"train": 40, "val": 1, "test": 2}, \
            args.gan_steps, args.iterations, 4
    data = {split: brain_slices(split, n, shape, seed=1100 + 60 * i) for i, (split, n) in enumerate(counts.items())}
    generator, history = train_image_gan(data["train"]["reference"], gan_steps,
                                         generator=ImageGenerator(shape, latent_dim=64, filters=32, levels=3))
    print(f"generator: {gan_steps} steps on {len(data['train']['reference'])} images "
          f"({time.time() - start:.0f} s); losses G {np.mean(history['generator'][-50:]):.3f} "
          f"D {np.mean(history['discriminator'][-50:]):.3f}", flush=True)
    (val, _), (test, _) = (undersample(data[split], RandomMaskFunc([0.08], [4]), seed=seed)
                            for split, seed in (("val", 2), ("test", 3)))
    test = {k: v[:test_slices] for k, v in test.items()}
    reference = data["test"]["reference"][:test_slices]
    lam_cg = max((1e-3, 1e-2, 1e-1), key=lambda v: score(sense(val["kspace"], val["mask"], val["sensitivities"],
                                                                lam=v, max_iter=30).numpy(),
                                                          data["val"]["reference"])[0])
    lam_l1 = max((3e-4, 1e-3, 3e-3), key=lambda v: score(l1_wavelet(val["kspace"], val["mask"], val["sensitivities"],
                                                                     lam=v, max_iter=60).numpy(),
                                                          data["val"]["reference"])[0])
    results, timings = {}, {}
    one = lambda i: {k: v[i:i + 1] for k, v in test.items()}  # noqa: E731
    methods = {
        f"CG-SENSE (λ={lam_cg:g})": lambda x: sense(x["kspace"], x["mask"], x["sensitivities"], lam=lam_cg,
                                                    max_iter=30).numpy(),
        f"ℓ1-wavelet (λ={lam_l1:g})": lambda x: l1_wavelet(x["kspace"], x["mask"], x["sensitivities"], lam=lam_l1,
                                                           max_iter=100).numpy(),
        "DIP (noise input)": lambda x: deep_image_prior(x["kspace"], x["mask"], x["sensitivities"],
                                                        iterations=iterations, holdout_fraction=0.1).image.numpy(),
        "inverse GAN": lambda x: inverse_gan(x["kspace"], x["mask"], x["sensitivities"], generator,
                                             latent_iterations=iterations // 2,
                                             joint_iterations=iterations - iterations // 2).image.numpy(),
        "inverse GAN, latent only": lambda x: inverse_gan(x["kspace"], x["mask"], x["sensitivities"], generator,
                                                          latent_iterations=iterations,
                                                          joint_iterations=0).image.numpy(),
    }
    for name, method in methods.items():
        tick = time.time()
        images = np.concatenate([method(one(i)) for i in range(test_slices)])
        timings[name] = (time.time() - tick) / test_slices
        results[name] = score(images, reference)
        print(f"{name:>28}: PSNR {results[name][0]:.2f} dB  SSIM {results[name][1]:.3f}  "
              f"({timings[name]:.1f} s/slice)", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "inverse_gan.json")
    write_json(path, {"results": results, "seconds_per_slice": timings, "gan_steps": gan_steps,
                          "iterations": iterations, "shape": shape, "subjects": counts, "test_slices": test_slices,
                          "seconds": round(time.time() - start, 1)})
    print(f"wrote {path} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
