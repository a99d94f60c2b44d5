"""Joint reconstruction and segmentation (``recon_seg``) against the recon-only model and a segmentation network.

Brain subjects of the domain-randomised generator (T1w/T2w/PDw/random contrast, random orientation, 8 coils, noise
0.02, ESPIRiT maps, 4 classes: background, CSF, GM, WM from the anatomy's tissue maps); train / validation / test
subjects from disjoint slabs; fastMRI random masks at R=4 (centre 0.08), several per training slice. Trained with
the same data, steps and optimiser (Adam 1e-3, batch 4):

  recon_seg      the joint model: complex ℓ1 (image, against the noise-free object) + w · cross-entropy (labels)
  recon-only     the same network trained with w = 0 (its segmentation head never learns)
  seg network    a U-Net of the recon_seg body's size trained on the fully sampled images (max-normalised)

Reported on the test subjects: Dice of CSF / GM / WM and their mean for the segmentation network on the fully
sampled images (the ceiling), on the recon-only output (cascade) and on CG-SENSE (λ chosen on validation), and for
recon_seg's own head; PSNR / SSIM of recon_seg's and recon-only's images (and CG-SENSE).

    python benchmarks/recon_seg.py [--quick] [--steps 1500]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.brain import SEGMENTATION_CLASSES, brain_slices, undersample  # noqa: E402
from tfmri_zoo.layers.complex_ops import complex_to_channels  # noqa: E402
from tfmri_zoo.metrics import dice, psnr, ssim  # noqa: E402
from tfmri_zoo.models.regularizers import UNet  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc  # noqa: E402
from tfmri_zoo.recon import select_lam, sense  # noqa: E402
from tfmri_zoo.training.losses import ComplexL1  # noqa: E402
from report import write_json  # noqa: E402


def normalised(images):
    images = np.asarray(images)
    return images / np.abs(images).reshape(len(images), -1).max(axis=1)[:, None, None]


def train_recon(config, inputs, targets, steps, seg_weight, batch=4, epochs=10):
    keras.utils.set_random_seed(0)
    model = models.get("recon_seg", preset=None, **config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"image": ComplexL1(), "segmentation": keras.losses.SparseCategoricalCrossentropy()},
                  loss_weights={"image": 1.0, "segmentation": seg_weight})
    data = tf.data.Dataset.from_tensor_slices((inputs, targets)).shuffle(4096, seed=0).repeat().batch(batch)
    history = model.fit(data, steps_per_epoch=steps // epochs, epochs=epochs, verbose=0)
    return model, history.history


class Segmenter(keras.Model):
    """A U-Net as a plain segmentation network: real/imag channels ``[B, H, W, 2]`` → class logits."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def call(self, channels):
        return self.unet(channels, real_channels=True)


def train_segmenter(images, labels, filters, depth, steps, batch=4, epochs=10):
    keras.utils.set_random_seed(0)
    model = Segmenter(UNet(filters=filters, depth=depth, residual=False, out_channels=len(SEGMENTATION_CLASSES)))
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = complex_to_channels(normalised(images)[..., None]).numpy()
    data = tf.data.Dataset.from_tensor_slices((x, labels)).shuffle(4096, seed=0).repeat().batch(batch)
    model.fit(data, steps_per_epoch=steps // epochs, epochs=epochs, verbose=0)
    return lambda imgs: model.predict(complex_to_channels(normalised(imgs)[..., None]).numpy(), verbose=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32², 4 coils, one subject per split, 4 steps, small model, "
                        "few λ and CG iterations")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seg-weight", type=float, default=0.1)
    parser.add_argument("--out", default="out/recon_seg")
    args = parser.parse_args(argv)
    start = time.time()
    if args.quick:
        shape, counts, steps, copies = (32, 32), {"train": 1, "val": 1, "test": 1}, 4, 1
        config = models.presets("recon_seg")["small"]
        coils, epochs, lam_grid, cg_iterations = 4, 2, [1e-3, 1e-1], 10
    else:
        shape, counts, steps, copies = (96, 96), {"train": 24, "val": 2, "test": 4}, args.steps, 4
        config = {**models.presets("recon_seg")["default"], "filters": 16, "iterations": 4, "cg_iterations": 6}
        coils, epochs, lam_grid, cg_iterations = 8, 10, [1e-3, 1e-2, 1e-1], 30
    data = {split: brain_slices(split, n, shape, seed=300, coils=coils) for split, n in counts.items()}
    masked = {split: undersample(data[split], RandomMaskFunc([0.08], [4]), seed=seed,
                                 copies=copies if split == "train" else 1)
              for split, seed in (("train", 1), ("val", 2), ("test", 3))}
    (train_inputs, train_targets), (val_inputs, val_targets), (test_inputs, test_targets) = (
        (inputs, {"image": rest["reference"], "segmentation": rest["labels"]})
        for inputs, rest in (masked["train"], masked["val"], masked["test"]))
    print(f"data: {len(train_inputs['kspace'])} training / {len(test_inputs['kspace'])} test examples {shape} "
          f"({time.time() - start:.0f} s)", flush=True)
    joint, joint_history = train_recon(config, train_inputs, train_targets, steps, args.seg_weight,
                                       epochs=epochs)
    recon_only, _ = train_recon(config, train_inputs, train_targets, steps, 0.0, epochs=epochs)
    segmenter = train_segmenter(train_targets["image"], train_targets["segmentation"], config["filters"],
                                config["depth"], steps, epochs=epochs)
    print(f"trained ({time.time() - start:.0f} s); joint loss {joint_history['loss'][0]:.4f} → "
          f"{joint_history['loss'][-1]:.4f}", flush=True)

    lam, _ = select_lam(lambda inputs, lam: sense(inputs["kspace"], inputs["mask"], inputs["sensitivities"], lam=lam,
                                                  max_iter=cg_iterations),
                        [(val_inputs, val_targets["image"], ["val"] * len(val_targets["image"]))], lam_grid)
    reference, labels = test_targets["image"], test_targets["segmentation"]
    joint_out = joint.predict(test_inputs, batch_size=4, verbose=0)
    images = {"recon_seg": joint_out["image"], "recon-only": recon_only.predict(test_inputs, batch_size=4,
                                                                                 verbose=0)["image"],
              f"CG-SENSE (λ={lam:g})": sense(test_inputs["kspace"], test_inputs["mask"],
                                             test_inputs["sensitivities"], lam=lam, max_iter=cg_iterations).numpy()}
    segmentations = {"seg network on fully sampled": segmenter(reference),
                     "seg network on recon-only": segmenter(images["recon-only"]),
                     f"seg network on CG-SENSE": segmenter(images[f"CG-SENSE (λ={lam:g})"]),
                     "recon_seg head": joint_out["segmentation"]}
    rows = {"images": {}, "dice": {}}
    for name, image in images.items():
        rows["images"][name] = {"psnr": float(psnr(np.abs(reference), np.abs(image))),
                                "ssim": float(ssim(np.abs(reference), np.abs(image)))}
        print(f"{name:>28}: PSNR {rows['images'][name]['psnr']:.2f} dB  SSIM {rows['images'][name]['ssim']:.3f}")
    for name, probabilities in segmentations.items():
        scores = dice(labels, probabilities, len(SEGMENTATION_CLASSES))
        rows["dice"][name] = dict(zip(SEGMENTATION_CLASSES, scores.round(4).tolist()),
                                  mean_tissue=float(scores[1:].mean()))
        print(f"{name:>28}: Dice CSF {scores[1]:.3f}  GM {scores[2]:.3f}  WM {scores[3]:.3f}  "
              f"mean {scores[1:].mean():.3f}")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "recon_seg.json")
    write_json(path, {**rows, "config": config, "steps": steps, "shape": shape, "subjects": counts,
                          "seg_weight": args.seg_weight, "seconds": round(time.time() - start, 1)})
    print(f"wrote {path} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
