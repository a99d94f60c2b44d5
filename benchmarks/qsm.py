"""Learned dipole inversion (``qsm``) against thresholded k-space division (TKD) and Tikhonov CG on 3D brain
susceptibility phantoms (``data.qsm_phantom``: MNI anatomy, GM/WM susceptibilities, iron-rich nuclei, veins; field
noise 0.001–0.005 ppm; train / validation / test blocks from disjoint bands of the brain).

TKD's threshold and Tikhonov's λ are chosen on the validation blocks (lowest NRMSE); the network (the default
architecture, trained with the MSE against the true susceptibility) is used as trained. Reported on the test blocks,
inside the brain mask: NRMSE (%), PSNR (dB, peak = the block's largest |χ|) and the streaking error — the relative
error energy in the magic-angle cone of k-space, ``‖P (F(χ̂ − χ))‖ / ‖P F χ‖`` with ``P`` the frequencies where
``|D(k)| < 0.1`` (where the dipole carries no information and streaks arise). Writes a figure of a test block.

    python benchmarks/qsm.py [--quick] [--steps 1000] [--filters 16]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.qsm_phantom import susceptibility_volume  # noqa: E402
from tfmri_zoo.physics.dipole import dipole_kernel  # noqa: E402
from tfmri_zoo.recon.qsm import qsm_tikhonov, qsm_tkd  # noqa: E402
from report import write_json  # noqa: E402


def blocks(split, count, shape, seed):
    volumes = [susceptibility_volume(seed + n, split, shape=shape) for n in range(count)]
    return ({"field": np.stack([v["field"] for v in volumes]), "mask": np.stack([v["mask"] for v in volumes])},
            np.stack([v["susceptibility"] for v in volumes]))


def scores(estimate, truth, mask):
    estimate, truth = estimate * mask, truth * mask
    nrmse = [np.linalg.norm(e - t) / np.linalg.norm(t) for e, t in zip(estimate, truth)]
    psnr = [20 * np.log10(np.abs(t).max() / np.sqrt(np.mean((e - t) ** 2))) for e, t in zip(estimate, truth)]
    cone = np.abs(dipole_kernel(truth.shape[1:])) < 0.1
    error = np.fft.fftshift(np.fft.fftn(estimate - truth, axes=(1, 2, 3)), axes=(1, 2, 3))
    reference = np.fft.fftshift(np.fft.fftn(truth, axes=(1, 2, 3)), axes=(1, 2, 3))
    streak = [np.linalg.norm(e[cone]) / np.linalg.norm(r[cone]) for e, r in zip(error, reference)]
    return {"nrmse_percent": 100 * float(np.mean(nrmse)), "psnr": float(np.mean(psnr)),
            "streaking": float(np.mean(streak))}


def tuned(method, grid, val_inputs, val_truth):
    best = min(grid, key=lambda v: scores(method(val_inputs, v), val_truth, val_inputs["mask"])["nrmse_percent"])
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8×24×24 blocks, few steps, small model")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--filters", type=int, default=16, help="CNN channels (the default preset has 32)")
    parser.add_argument("--out", default="out/qsm")
    args = parser.parse_args(argv)
    start = time.time()
    if args.quick:
        shape, counts, steps, preset = (8, 24, 24), {"train": 4, "val": 2, "test": 2}, 20, "small"
    else:
        shape, counts, steps, preset = (16, 48, 48), {"train": 200, "val": 4, "test": 8}, args.steps, "default"
    (train, train_truth), (val, val_truth), (test, test_truth) = (
        blocks(split, counts[split], shape, seed=1000 * (i + 1)) for i, split in enumerate(("train", "val", "test")))
    print(f"data: {counts} blocks of {shape} ({time.time() - start:.0f} s)", flush=True)

    keras.utils.set_random_seed(0)
    model = models.get("qsm", preset=preset, **({} if args.quick else {"filters": args.filters}))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    data = tf.data.Dataset.from_tensor_slices((train, train_truth)).shuffle(1024, seed=0).repeat().batch(2)
    history = model.fit(data, steps_per_epoch=max(1, steps // 10), epochs=10, verbose=0,
                        validation_data=(val, val_truth))
    train_seconds = time.time() - start
    print(f"trained {steps} steps: loss {history.history['loss'][0]:.3g} → {history.history['loss'][-1]:.3g}, "
          f"validation {history.history['val_loss'][0]:.3g} → {history.history['val_loss'][-1]:.3g}", flush=True)

    tkd = lambda inputs, t: qsm_tkd(inputs["field"], threshold=t, mask=inputs["mask"]).numpy()  # noqa: E731
    tikhonov = lambda inputs, lam: qsm_tikhonov(inputs["field"], lam=lam, max_iter=100,  # noqa: E731
                                                mask=inputs["mask"]).numpy()
    threshold = tuned(tkd, [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5], val, val_truth)
    lam = tuned(tikhonov, [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0], val, val_truth)
    results = {}
    for name, method in ((f"TKD (threshold {threshold:g})", lambda x: tkd(x, threshold)),
                         (f"Tikhonov CG (λ={lam:g})", lambda x: tikhonov(x, lam)),
                         ("qsm network", lambda x: model.predict(x, batch_size=2, verbose=0))):
        tick = time.time()
        estimate = method(test)
        results[name] = {**scores(estimate, test_truth, test["mask"]),
                         "seconds_per_block": (time.time() - tick) / len(test_truth)}
        results[name]["estimate"] = estimate
        row = results[name]
        print(f"{name:>26}: NRMSE {row['nrmse_percent']:.1f} %  PSNR {row['psnr']:.2f} dB  streaking "
              f"{row['streaking']:.3f}  ({row['seconds_per_block']:.2f} s/block)", flush=True)
    os.makedirs(args.out, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("true χ", test_truth[0])] + [(name, row["estimate"][0]) for name, row in results.items()]
    figure, axes = plt.subplots(2, len(panels), figsize=(3 * len(panels), 5.5))
    for column, (name, volume) in enumerate(panels):
        axes[0, column].imshow(volume[volume.shape[0] // 2], cmap="gray", vmin=-0.1, vmax=0.2)
        axes[1, column].imshow(volume[:, volume.shape[1] // 2], cmap="gray", vmin=-0.1, vmax=0.2, aspect="auto")
        axes[0, column].set_title(name, fontsize=8)
        for row in axes[:, column]:
            row.axis("off")
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "qsm.png"), dpi=100)
    path = os.path.join(args.out, "qsm.json")
    write_json(path, {"results": {k: {m: v for m, v in row.items() if m != "estimate"} for k, row in results.items()},
                          "shape": shape, "blocks": counts, "steps": steps, "preset": preset,
                          "config": model.get_config(), "parameters": model.count_params(),
                          "train_seconds": round(train_seconds, 1), "history": history.history})
    print(f"wrote {path} and qsm.png ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
