"""Realistic brain anatomy from the MNI ICBM152 2009 template, with domain randomisation.

The template's grey- and white-matter probability maps and its brain mask ship inside the ``nilearn`` wheel (read
locally with ``nibabel``; nothing is downloaded). Per voxel: ``gm``, ``wm`` and ``csf = clip(mask − gm − wm, 0, 1)``
(ventricles and sulci). Around the brain, shells are added from the distance to the brain mask: extra-cerebral CSF,
skull (dark in every contrast), scalp fat and skin/muscle, each with a random thickness.

A 2D slice of a "subject" is the template re-sampled on a randomly placed, rotated, scaled, flipped and elastically
deformed grid (smooth random displacement field), in one of three orientations, at any matrix size and field of
view (anti-aliased by Gaussian pre-filtering when the pixel is larger than 1 mm). Its magnitude is the tissue
mixture ``Σ_t p_t · c_t`` with contrasts ``c_t`` drawn per subject around T1-, T2- or PD-weighted values (or fully
random), times a smooth multiplicative bias field and a mild multi-scale texture; its phase is a smooth random field.

The template is an average of 152 brains: clean tissue boundaries of high contrast and no fine texture, where one
person's scan has lower contrast, a scanner's blur and fine texture (a real EPI slice: a median in-head gradient
0.6 ×, a quarter of the energy at 0.25–0.5 Nyquist, 1.4 × the energy above 0.5 Nyquist of a slice rendered here;
README, "A real scan made by others"). ``texture="scanner"`` adds what a scanner's image has and the average lacks (:func:`scanner_contrast`,
:func:`scanner_appearance`): a GM–WM contrast scaled down by a random factor, fine-scale tissue heterogeneity
(white-noise-like, 1–2 px correlation, 4–12 % std) and the scanner's finite resolution (k-space truncated to 65–100 %
of the matrix's extent with a random Tukey apodisation, from Gibbs ringing to a Hann window). Its ranges were chosen
from these physical effects, not fitted to a test scan.

Conventions: atlas arrays are indexed ``[x (left→right), y (posterior→anterior), z (inferior→superior)]`` at
1 mm. Slice planes: ``"axial"`` (fixed z; rows = anterior→posterior, columns = x), ``"coronal"`` (fixed y; rows =
superior→inferior, columns = x), ``"sagittal"`` (fixed x; rows = superior→inferior, columns = anterior→posterior).
"""
import functools

import numpy as np

ORIENTATIONS = ("axial", "coronal", "sagittal")
CONTRASTS = ("t1w", "t2w", "pdw", "random")
TEXTURES = ("atlas", "scanner")
TISSUES = ("csf", "gm", "wm", "skull", "fat", "skin")
LABELS = {"background": 0, "csf": 1, "gm": 2, "wm": 3, "other": 4}
# Typical relative magnitudes (spin-echo / gradient-echo brain imaging), each varied ±15 % per subject.
CONTRAST_CENTRES = {
    "t1w": {"csf": 0.15, "gm": 0.55, "wm": 0.85, "skull": 0.04, "fat": 1.0, "skin": 0.45},
    "t2w": {"csf": 1.0, "gm": 0.48, "wm": 0.32, "skull": 0.03, "fat": 0.7, "skin": 0.35},
    "pdw": {"csf": 0.9, "gm": 0.78, "wm": 0.62, "skull": 0.05, "fat": 0.85, "skin": 0.6},
}
_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}


def _require(package):
    try:
        return __import__(package)
    except ImportError as error:  # pragma: no cover - exercised by a test with the import blocked
        raise ImportError(f"The brain data generator needs '{package}': pip install {package} "
                          "(or pip install 'tfmri-zoo[dev]').") from error


@functools.lru_cache(maxsize=1)
def load_atlas():
    """The MNI ICBM152 2009 tissue maps (1 mm), read from the files inside the nilearn wheel.

    Returns:
      dict of float32 ``[197, 233, 189]`` arrays ``gm``, ``wm``, ``csf``, ``brain`` (mask), indexed
      ``[x, y, z]``.

    Raises:
      ImportError: ``nilearn`` or ``nibabel`` is not installed (the message names the package to install).
    """
    _require("nibabel")
    datasets = _require("nilearn.datasets").datasets
    maps = {}
    for name, loader in (("gm", "load_mni152_gm_template"), ("wm", "load_mni152_wm_template"),
                         ("brain", "load_mni152_brain_mask")):
        maps[name] = np.asarray(getattr(datasets, loader)(resolution=1).get_fdata(), np.float32)
    maps["csf"] = np.clip(maps["brain"] - maps["gm"] - maps["wm"], 0.0, 1.0)
    return maps


def slice_range(orientation, minimum_fraction=0.3):
    """``(first, stop)`` slice indices along ``orientation``'s axis whose brain area is at least
    ``minimum_fraction`` of the largest one."""
    axis = _AXIS[_check_orientation(orientation)]
    brain = load_atlas()["brain"]
    area = brain.sum(axis=tuple(a for a in range(3) if a != axis))
    keep = np.flatnonzero(area >= minimum_fraction * area.max())
    return int(keep[0]), int(keep[-1]) + 1


def _check_orientation(orientation):
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation: expected one of {ORIENTATIONS}, got {orientation!r}.")
    return orientation


def plane(volume, orientation, index):
    """The 2D plane of an atlas ``volume`` at slice ``index``, with this module's row/column convention."""
    if orientation == "axial":
        return volume[:, :, index].T[::-1]          # rows: anterior → posterior, columns: x
    if orientation == "coronal":
        return volume[:, index, :].T[::-1]          # rows: superior → inferior, columns: x
    return volume[index, :, :].T[::-1, ::-1]        # rows: superior → inferior, columns: anterior → posterior


def random_contrast(rng, contrast):
    """Per-subject tissue magnitudes ``{tissue: float}`` for ``contrast`` (one of :data:`CONTRASTS`)."""
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast: expected one of {CONTRASTS}, got {contrast!r}.")
    if contrast == "random":
        values = {t: float(rng.uniform(0.05, 1.0)) for t in TISSUES}
        values["skull"] = float(rng.uniform(0.0, 0.1))
        return values
    return {t: float(np.clip(v * rng.uniform(0.85, 1.15), 0.0, 1.2)) for t, v in CONTRAST_CENTRES[contrast].items()}


def scanner_contrast(rng, values):
    """``values`` (:func:`random_contrast`) with the GM–WM difference scaled by ``U(0.4, 1)`` about its mean."""
    mean, scale = (values["gm"] + values["wm"]) / 2, rng.uniform(0.4, 1.0)
    return {**values, "gm": mean + scale * (values["gm"] - mean), "wm": mean + scale * (values["wm"] - mean)}


def scanner_appearance(rng, magnitude, phase):
    """A scanner's image of the object ``magnitude · exp(i·phase)`` (float ``[H, W]`` each), complex128 ``[H, W]``.

    Fine tissue heterogeneity: ``magnitude · (1 + f)``, ``f`` a white-noise-like field (:func:`smooth_field`, 1–2 px
    apart, peak 0.15–0.5, i.e. ≈ 4–12 % std). Finite resolution: the centred orthonormal k-space of the complex image
    is kept over a centred box of ``U(0.65, 1)`` of each axis's extent and multiplied there by a Tukey
    window (taper fraction ``U(0, 1)``: 0 = sharp truncation with Gibbs ringing, 1 = Hann).
    """
    from tfmri_zoo.physics.fft import fft2c, ifft2c

    image = magnitude * (1.0 + smooth_field(rng, magnitude.shape, rng.uniform(1.0, 2.0), rng.uniform(0.15, 0.5)))
    image = np.clip(image, 0.0, None) * np.exp(1j * phase)
    fraction, taper = rng.uniform(0.65, 1.0), rng.uniform(0.0, 1.0)
    window = np.outer(*(band_window(n, fraction, taper) for n in image.shape))
    return ifft2c(fft2c(image) * window.astype(np.complex128)).numpy()


def band_window(n, fraction, taper):
    """float ``[n]``: a Tukey window (taper fraction ``taper``) over the centred ``fraction · n`` samples of a centred
    k-space axis (k = 0 at index ``n // 2``), zero outside."""
    import scipy.signal

    width = max(2, int(round(fraction * n)))
    window = np.zeros(n)
    start = (n - width + 1) // 2
    window[start:start + width] = scipy.signal.windows.tukey(width, taper)
    return window


def smooth_field(rng, shape, scale, amplitude):
    """A smooth random real field ``[H, W]``: white noise on a coarse grid (``scale`` pixels apart), cubic-upsampled,
    normalised to unit maximum magnitude, times ``amplitude``."""
    from scipy import ndimage

    coarse = (max(2, int(np.ceil(shape[0] / scale)) + 2), max(2, int(np.ceil(shape[1] / scale)) + 2))
    field = ndimage.zoom(rng.standard_normal(coarse), (shape[0] / coarse[0] + 1e-9, shape[1] / coarse[1] + 1e-9),
                         order=3, mode="reflect")[:shape[0], :shape[1]]
    return amplitude * field / max(np.abs(field).max(), 1e-12)


def sampling_grid(rng, orientation, shape, pixel_mm=None, deformation_mm=3.0):
    """Random in-plane sampling positions (atlas-plane pixel coordinates, 1 mm) for an output image of ``shape``.

    Returns:
      ``(rows, cols, pixel_mm)``: float64 ``[H, W]`` coordinates into :func:`plane` and the output pixel size.
    """
    brain = plane(load_atlas()["brain"], orientation, (slice_range(orientation)[0] + slice_range(orientation)[1]) // 2)
    occupied = np.argwhere(brain > 0.5)
    centre = occupied.mean(axis=0)
    extent = occupied.max(axis=0) - occupied.min(axis=0) + 30.0      # brain + scalp, in mm
    if pixel_mm is None:
        pixel_mm = max(extent[0] / shape[0], extent[1] / shape[1]) * rng.uniform(1.05, 1.3)
    angle = np.deg2rad(rng.uniform(-15.0, 15.0))
    zoom = rng.uniform(0.9, 1.1, size=2)                             # head size / aspect
    i, j = np.meshgrid(np.arange(shape[0]) - (shape[0] - 1) / 2, np.arange(shape[1]) - (shape[1] - 1) / 2,
                       indexing="ij")
    u, v = i * pixel_mm / zoom[0], j * pixel_mm / zoom[1]
    rows = centre[0] + np.cos(angle) * u - np.sin(angle) * v + rng.uniform(-8, 8)
    cols = centre[1] + np.sin(angle) * u + np.cos(angle) * v + rng.uniform(-8, 8)
    rows += smooth_field(rng, shape, max(4, shape[0] / 5), deformation_mm)
    cols += smooth_field(rng, shape, max(4, shape[1] / 5), deformation_mm)
    return rows, cols, float(pixel_mm)


def tissue_maps(orientation, index, rows, cols, pixel_mm, rng):
    """Tissue fractions ``{tissue: float32 [H, W]}`` (:data:`TISSUES`) of atlas slice ``index`` on the grid."""
    from scipy import ndimage

    atlas = load_atlas()
    sigma = max(0.0, 0.45 * (pixel_mm - 1.0))                        # anti-aliasing before down-sampling
    out = {}
    for name in ("gm", "wm", "csf", "brain"):
        image = plane(atlas[name], orientation, index)
        if sigma > 0:
            image = ndimage.gaussian_filter(image, sigma)
        out[name] = ndimage.map_coordinates(image, [rows, cols], order=1, mode="constant", cval=0.0)
    # shells around the brain by distance (mm) to the brain mask
    distance = ndimage.distance_transform_edt(out["brain"] < 0.5) * pixel_mm
    edges = np.cumsum([rng.uniform(1.0, 3.0), rng.uniform(3.0, 7.0), rng.uniform(2.0, 6.0), rng.uniform(1.0, 3.0)])
    soft = lambda d: 1.0 / (1.0 + np.exp(-(d / max(pixel_mm, 1.0)) * 2.0))   # smooth step, ~1 pixel wide
    inside = [soft(edge - distance) for edge in edges]               # 1 inside each shell's outer edge
    outside_brain = 1.0 - np.clip(out["brain"], 0, 1)
    out["csf"] = out["csf"] + outside_brain * inside[0]
    out["skull"] = outside_brain * (inside[1] - inside[0])
    out["fat"] = outside_brain * (inside[2] - inside[1])
    out["skin"] = outside_brain * (inside[3] - inside[2])
    out.pop("brain")
    return {name: np.clip(out[name], 0.0, 1.0).astype(np.float32) for name in TISSUES}


def labels_from(tissues):
    """int8 ``[H, W]`` labels (:data:`LABELS`): the most probable tissue where the tissues cover ≥ 50 %."""
    stack = np.stack([tissues["csf"], tissues["gm"], tissues["wm"],
                      tissues["skull"] + tissues["fat"] + tissues["skin"]])
    labels = (np.argmax(stack, axis=0) + 1).astype(np.int8)
    labels[stack.sum(axis=0) < 0.5] = 0
    return labels


def render_slice(rng, orientation, index, shape, contrast_values, pixel_mm=None, deformation_mm=3.0,
                 texture="atlas"):
    """One complex brain image.

    Args:
      rng: ``numpy.random.Generator``.
      orientation: one of :data:`ORIENTATIONS`.
      index: atlas slice index along the orientation's axis.
      shape: ``(H, W)`` output matrix.
      contrast_values: ``{tissue: magnitude}`` (:func:`random_contrast`).
      pixel_mm: pixel size; default chosen so the head fills 75–95 % of the field of view.
      deformation_mm: peak elastic displacement.
      texture: one of :data:`TEXTURES` (module docstring; ``"scanner"``: :func:`scanner_appearance` after the bias
        field).

    Returns:
      dict: ``image`` complex64 ``[H, W]`` (peak magnitude ≈ 1), ``labels`` int8 ``[H, W]``, ``support`` bool
      ``[H, W]`` (any tissue), ``pixel_mm`` float.
    """
    rows, cols, pixel_mm = sampling_grid(rng, orientation, shape, pixel_mm, deformation_mm)
    tissues = tissue_maps(orientation, index, rows, cols, pixel_mm, rng)
    magnitude = sum(tissues[t] * contrast_values[t] for t in TISSUES)
    mild_texture = 1.0 + smooth_field(rng, shape, 3, 0.04) + smooth_field(rng, shape, 12, 0.06)
    bias = np.exp(smooth_field(rng, shape, max(shape) / 2, rng.uniform(0.05, 0.3)))
    magnitude = np.clip(magnitude * mild_texture * bias, 0.0, None)
    phase = smooth_field(rng, shape, max(shape) / 3, rng.uniform(0.3, np.pi)) \
        + rng.uniform(-np.pi, np.pi)
    image = scanner_appearance(rng, magnitude, phase) if texture == "scanner" else magnitude * np.exp(1j * phase)
    image = image / max(np.abs(image).max(), 1e-12)
    labels, support = labels_from(tissues), sum(tissues.values()) > 0.05
    for axis, probability in ((1, 0.5), (0, 0.2)):                  # left-right and up-down flips
        if rng.random() < probability:
            image, labels, support = (np.flip(a, axis) for a in (image, labels, support))
    return {"image": np.ascontiguousarray(image, np.complex64), "labels": np.ascontiguousarray(labels),
            "support": np.ascontiguousarray(support), "pixel_mm": pixel_mm}
