"""Multi-echo (T2) and inversion-recovery (T1) brain data with known parameter maps, for learned parameter mapping.

Per slice of the brain generator's anatomy (:mod:`tfmri_zoo.data.brain_anatomy`: the MNI ICBM152 2009 tissue
fractions on a randomly placed, deformed grid) the proton density and relaxation rate are the tissue mixture

    ρ = Σ_t p_t PD_t · (smooth bias) · exp(iφ),    R = Σ_t p_t R_t / Σ_t p_t    (R = 1/T2 or 1/T1, in 1/ms)

with literature values at 3 T (:data:`TISSUE_VALUES`: GM/WM/CSF T2 from Wansapura et al. 1999, T1 from Stanisz et
al. 2005, rounded; skull, fat and skin/muscle from the same sources), each scaled per subject by U(0.9, 1.1) and by a
smooth ±5 % spatial variation of the rate. The series ``S(t) = ρ e^{−tR}`` (or ``ρ(1 − 2e^{−tR})``,
:mod:`tfmri_zoo.physics.signal_models`) is multiplied by coil maps, Fourier transformed and given complex Gaussian
noise; the stored maps are ESPIRiT maps from the first time point's noisy ``24 × 24`` centre (as a scanner would).
"""
import numpy as np

from tfmri_zoo.data import brain_anatomy as anatomy
from tfmri_zoo.data.brain import espirit_acs_maps, split_slices
from tfmri_zoo.data.synthetic_coils import biot_savart_sensitivities, loop_coils
from tfmri_zoo.physics.fft import fft2c
from tfmri_zoo.physics.signal_models import signal_model

#: ``tissue: (PD, T2 ms, T1 ms)`` at 3 T.
TISSUE_VALUES = {"csf": (1.0, 1500.0, 4000.0), "gm": (0.80, 99.0, 1600.0), "wm": (0.70, 69.0, 840.0),
                 "skull": (0.05, 10.0, 300.0), "fat": (0.90, 130.0, 380.0), "skin": (0.70, 40.0, 1400.0)}
DEFAULT_TIMES = {"t2": (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0),
                 "t1": (100.0, 300.0, 600.0, 1000.0, 1500.0, 2200.0, 3000.0, 4000.0)}


def relaxometry_volume(seed, split="train", num_slices=2, shape=(96, 96), coils=8, signal="t2", times=None,
                       noise_level=0.01):
    """One subject's slices.

    Args:
      seed: integer seed.
      split: ``"train"``, ``"val"`` or ``"test"`` (disjoint slabs, :func:`tfmri_zoo.data.brain.split_slices`).
      num_slices: slices of the subject (axial).
      shape: ``(H, W)``.
      coils: number of receive coils.
      signal: ``"t2"`` (multi-echo spin echo) or ``"t1"`` (inversion recovery).
      times: echo / inversion times in ms (default :data:`DEFAULT_TIMES`).
      noise_level: k-space noise std relative to the mean first-time-point magnitude inside the head.

    Returns:
      dict: ``kspace`` complex64 ``[S, C, T, H, W]``, ``sensitivities`` complex64 ``[S, C, 1, H, W]`` (ESPIRiT),
      ``params`` complex64 ``[S, 2, H, W]`` (packed ``ρ``, rate in 1/ms; :func:`~tfmri_zoo.physics.pack_params`),
      ``brain`` bool ``[S, H, W]`` (GM + WM + CSF ≥ 0.5: where maps are scored), ``times`` and ``signal``.

    Raises:
      ValueError: an unknown signal.
    """
    times = tuple(float(t) for t in (times or DEFAULT_TIMES.get(signal, (1.0, 2.0))))
    model = signal_model(signal, times)
    rng = np.random.default_rng(seed)
    index_of = {"t2": 1, "t1": 2}[signal]
    values = {t: (pd * rng.uniform(0.9, 1.1), 1.0 / (v[index_of] * rng.uniform(0.9, 1.1)))
              for t, v in TISSUE_VALUES.items() for pd in [v[0]]}
    coil_list = loop_coils(coils, rng, ring_radius=rng.uniform(1.15, 1.8), loop_radius=rng.uniform(0.3, 0.7))
    indices = np.sort(rng.choice(split_slices(split, "axial"), size=num_slices, replace=False))
    out = {key: [] for key in ("kspace", "params", "brain")}
    for index in indices:
        rows, cols, pixel_mm = anatomy.sampling_grid(rng, "axial", shape)
        tissues = anatomy.tissue_maps("axial", int(index), rows, cols, pixel_mm, rng)
        total = sum(tissues.values())
        rho = sum(tissues[t] * values[t][0] for t in tissues)
        rate = sum(tissues[t] * values[t][1] for t in tissues) / np.maximum(total, 1e-6)
        rate = rate * (1.0 + anatomy.smooth_field(rng, shape, max(shape) / 4, 0.05))
        rho = rho * np.exp(anatomy.smooth_field(rng, shape, max(shape) / 2, 0.2))
        rho = rho * np.exp(1j * (anatomy.smooth_field(rng, shape, max(shape) / 3, 1.0) + rng.uniform(-np.pi, np.pi)))
        rate = np.where(total > 0.05, rate, 0.0)
        params = np.stack([rho, rate.astype(np.complex128)]).astype(np.complex64)
        series = model.signal(params[None]).numpy()[0]                               # [T, H, W]
        maps = biot_savart_sensitivities(shape, coil_list, z=rng.uniform(-0.2, 0.2))
        head = total > 0.05
        sigma = noise_level * float(np.mean(np.abs(series[0][head]))) if head.any() else noise_level
        kspace = fft2c(maps[:, None] * series[None]).numpy()
        kspace = kspace + sigma / np.sqrt(2) * (rng.standard_normal(kspace.shape)
                                                + 1j * rng.standard_normal(kspace.shape))
        out["kspace"].append(kspace.astype(np.complex64))
        out["params"].append(params)
        out["brain"].append((tissues["gm"] + tissues["wm"] + tissues["csf"]) >= 0.5)
    volume = {key: np.stack(value) for key, value in out.items()}
    volume["sensitivities"] = espirit_acs_maps(volume["kspace"][:, :, 0])[:, :, None]
    volume["times"], volume["signal"] = times, signal
    return volume
