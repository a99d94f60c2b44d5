"""Evaluation and file reconstruction: fastMRI metrics per acceleration, and h5 → h5/PNG reconstruction."""
import os

import numpy as np

from tfmri_zoo.metrics import per_volume_metrics


def _batches(files, acceleration, center_fraction, batch_size, sensitivities):
    from tfmri_zoo.data.pipeline import make_dataset
    from tfmri_zoo.physics.sampling import RandomMaskFunc, center_fraction as default_fraction

    mask_func = None
    if acceleration is not None:
        fraction = center_fraction or default_fraction(acceleration)
        mask_func = RandomMaskFunc([fraction], [int(acceleration)])
    return make_dataset(files, mask_func=mask_func, batch_size=batch_size, validation=True, return_info=True,
                        sensitivities=sensitivities)


def _predict(model, files, acceleration, center_fraction, batch_size, sensitivities):
    """Lists of ``[H, W]`` predictions and targets (sizes may differ between files), names and slice indices."""
    predictions, targets, names, slices = [], [], [], []
    for inputs, target, info in _batches(files, acceleration, center_fraction, batch_size, sensitivities):
        predictions += list(np.asarray(model(inputs, training=False)))
        targets += list(target.numpy())
        names += [f.decode() for f in info["fname"].numpy()]
        slices += list(info["slice"].numpy())
    return predictions, targets, names, slices


def evaluate(model, files, accelerations=(4, 8), center_fractions=None, batch_size=4, sensitivities="stored"):
    """fastMRI metrics (SSIM, PSNR, NMSE on magnitudes, per volume, averaged over volumes) per acceleration.

    Masks are fastMRI's ``RandomMaskFunc`` with the per-volume validation seed (the same mask for every slice of a
    volume, every run), so tables are reproducible and comparable between models.

    Args:
      model: callable ``model(inputs) → complex64 [B, H, W]`` (a zoo model or a classical baseline wrapper).
      files: fastMRI-schema ``.h5`` paths (or a directory).
      accelerations: acceleration factors ``R``.
      center_fractions: ``{R: fraction}``; default 0.08 for R=4, 0.04 for R=8, else ``0.32/R``.
      batch_size: slices per model call.
      sensitivities: ``"stored"`` / ``"espirit"`` / ``None`` (see :func:`tfmri_zoo.data.pipeline.make_dataset`).

    Returns:
      ``{"R=4": {"ssim": float, "psnr": float, "nmse": float, "volumes": int, "slices": int}, ...}``.
    """
    center_fractions = dict(center_fractions or {})
    table = {}
    for acceleration in accelerations:
        pred, target, names, _ = _predict(model, files, acceleration, center_fractions.get(acceleration),
                                          batch_size, sensitivities)
        table[f"R={acceleration}"] = {**per_volume_metrics(pred, target, names), "volumes": len(set(names)),
                                      "slices": len(names)}
    return table


def format_table(table):
    """A plain-text table of :func:`evaluate`'s result."""
    lines = [f"{'':6s} {'SSIM':>7s} {'PSNR':>7s} {'NMSE':>8s} {'volumes':>8s}"]
    for key, row in table.items():
        lines.append(f"{key:6s} {row['ssim']:7.4f} {row['psnr']:7.2f} {row['nmse']:8.4f} {row['volumes']:8d}")
    return "\n".join(lines)


def reconstruct_file(model, input_path, output_path, acceleration=None, center_fraction=None, png_path=None,
                     batch_size=4, sensitivities="stored"):
    """Reconstructs every slice of one fastMRI-schema file; writes an h5 (and optionally a PNG montage).

    Args:
      model: callable ``model(inputs) → complex64 [B, H, W]``.
      input_path: ``.h5`` input (fully sampled k-space, undersampled retrospectively when ``acceleration`` is given;
        files storing a ``mask`` are used as acquired).
      output_path: ``.h5`` written with ``reconstruction`` (float32 magnitude ``[slices, H, W]``) and
        ``reconstruction_complex`` (complex64), attribute ``acceleration``.
      acceleration, center_fraction: retrospective undersampling (``None``: use the file's k-space as it is).
      png_path: optional PNG montage of the magnitudes.
      batch_size, sensitivities: see :func:`evaluate`.

    Returns:
      the complex64 reconstruction ``[slices, H, W]`` in slice order.
    """
    import h5py

    pred, _, _, slices = _predict(model, [input_path], acceleration, center_fraction, batch_size, sensitivities)
    pred = np.stack(pred)[np.argsort(slices)].astype(np.complex64)
    folder = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.path.basename(output_path)}")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("reconstruction", data=np.abs(pred).astype(np.float32))
        f.create_dataset("reconstruction_complex", data=pred)
        f.attrs["acceleration"] = 0 if acceleration is None else int(acceleration)
        f.attrs["source"] = os.path.basename(input_path)
    os.replace(tmp, output_path)
    if png_path is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(pred)
        fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
        for i, ax in enumerate(axes[0]):
            ax.imshow(np.abs(pred[i]), cmap="gray")
            ax.set_title(f"slice {i}", fontsize=8)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(png_path, dpi=100)
        plt.close(fig)
    return pred
