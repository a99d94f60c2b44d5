"""GRAPPA and RAKI against zero-filled and CG-SENSE, with and without noise, on data made by others and on brains.

Data (2D, 8 coils, 128², lines along W: equispaced at R plus 24 fully sampled ACS lines):
  bart-tubes, bart-shepp_logan   ``bart phantom -k -s 8`` (``-N 6 -r seed`` for tubes), ESPIRiT maps by ``bart ecalib``
  brain                          the brain generator's held-out test slabs (ESPIRiT maps from the noisy ACS)
Noise: complex Gaussian k-space noise, std ``noise × mean RSS over the object`` (brain: its own noise model at
that level). Truth: the RSS of the noise-free coil images. Scores: fastMRI PSNR and SSIM of magnitudes.

Methods, each with λ chosen on a validation case of the same R and noise (``recon.select_lam``, PSNR): zero-filled
RSS; CG-SENSE ``|x|`` (30 iterations, absolute Tikhonov λ); GRAPPA (5 × 4 kernel, relative Tikhonov λ of the
calibration); RAKI (residual RAKI started from the GRAPPA fit with GRAPPA's chosen λ, ``--steps`` Adam steps on
the ACS, no λ of its own). The validation cases: BART tubes with another seed, and a brain validation subject.

    python benchmarks/grappa.py            # R = 2, 3, 4; noise 0 and 0.02; RAKI 500 steps
    python benchmarks/grappa.py --quick    # 64², R = 3, noise 0, RAKI 20 steps (a smoke test)
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import recon  # noqa: E402
from tfmri_zoo.data.bart_phantom import bart_phantom_slice  # noqa: E402
from tfmri_zoo.data.brain import brain_volume  # noqa: E402
from tfmri_zoo.metrics import per_volume_metrics  # noqa: E402
from tfmri_zoo.physics.coils import rss  # noqa: E402
from tfmri_zoo.physics.fft import ifft2c  # noqa: E402

ACS = 24
GRIDS = {"sense": (0.0, 1e-3, 1e-2, 1e-1), "grappa": (1e-4, 1e-3, 1e-2, 1e-1)}


def lines(width, acceleration):
    """Equispaced lines at ``R`` (offset 0) plus the centred ACS block, float32 ``[1, 1, 1, W]``."""
    line = np.zeros(width, np.float32)
    line[::acceleration] = 1
    line[width // 2 - ACS // 2:width // 2 + ACS // 2] = 1
    return line.reshape(1, 1, 1, width)


def rss_image(kspace):
    return rss(ifft2c(tf.constant(kspace)), axis=1).numpy()


def case(kind, size, noise, acceleration, seed, split="test"):
    """``(inputs, truth, names)`` of one data set: inputs scaled so that the zero-filled RSS has maximum 1."""
    if kind == "brain":
        volume = brain_volume(seed, split, num_slices=2, shape=(size, size), coils=8, noise_level=noise)
        kspace, maps = volume["kspace"], volume["sensitivities"]
        weight = np.sqrt(np.sum(np.abs(volume["sensitivities_true"]) ** 2, axis=1))
        truth = np.abs(volume["image"]) * weight
    else:
        kspace, maps = bart_phantom_slice(kind, size=size, coils=8, seed=seed, noise_level=noise)
        clean, _ = bart_phantom_slice(kind, size=size, coils=8, seed=seed)
        kspace, maps, truth = kspace[None], maps[None], rss_image(clean[None])
    mask = lines(size, acceleration)
    under = (kspace * mask).astype(np.complex64)
    scale = rss_image(under).max()
    inputs = {"kspace": under / scale, "mask": mask, "sensitivities": maps.astype(np.complex64)}
    return inputs, truth / scale, [f"{kind}-{seed}"] * len(under)


def methods(steps):
    """``{name: reconstruct(inputs, lam) → magnitude [B, H, W]}``; RAKI's ``lam`` is GRAPPA's chosen λ."""
    return {
        "zero-filled": lambda x, lam: rss_image(x["kspace"]),
        "CG-SENSE": lambda x, lam: np.abs(recon.sense(x["kspace"], x["mask"], x["sensitivities"], lam=lam,
                                                      max_iter=30).numpy()),
        "GRAPPA": lambda x, lam: recon.grappa(x["kspace"], x["mask"], lam=lam).image.numpy(),
        "RAKI": lambda x, lam: recon.raki(x["kspace"], x["mask"], lam=lam, steps=steps).image.numpy(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--accelerations", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.02])
    parser.add_argument("--steps", type=int, default=500, help="RAKI training steps")
    parser.add_argument("--data", nargs="+", default=["bart-tubes", "bart-shepp_logan", "brain"])
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.accelerations, args.noise, args.steps, args.data = 64, [3], [0.0], 20, ["bart-tubes"]
    run = methods(args.steps)
    print(f"{args.size}², 8 coils, {ACS} ACS lines, RAKI {args.steps} steps; PSNR / SSIM (λ chosen on validation)")
    print(f"{'data':<18} {'R':>2} {'noise':>5} " + " ".join(f"{m:>15}" for m in run) + "   λ SENSE / GRAPPA, RAKI s")
    for noise in args.noise:
        for acceleration in args.accelerations:
            validation = {}
            for data in args.data:
                kind = data.replace("bart-", "")
                key = "brain" if kind == "brain" else "tubes"
                if key not in validation:
                    validation[key] = case(key, args.size, noise, acceleration, seed=0 if key == "brain" else 11,
                                           split="val")
                val = validation[key]
                lams = {"CG-SENSE": recon.select_lam(run["CG-SENSE"], [val], GRIDS["sense"])[0],
                        "GRAPPA": recon.select_lam(run["GRAPPA"], [val], GRIDS["grappa"])[0]}
                lams["RAKI"] = lams["GRAPPA"]
                inputs, truth, names = case(kind, args.size, noise, acceleration, seed=12 if kind == "tubes" else 0)
                cells, seconds = [], 0.0
                for name, reconstruct in run.items():
                    start = time.perf_counter()
                    prediction = reconstruct(inputs, lams.get(name))
                    if name == "RAKI":
                        seconds = time.perf_counter() - start
                    score = per_volume_metrics(list(prediction), list(truth), names)
                    cells.append(f"{score['psnr']:>8.2f}/{score['ssim']:.3f}")
                print(f"{data:<18} {acceleration:>2} {noise:>5.2f} " + " ".join(f"{c:>15}" for c in cells)
                      + f"   {lams['CG-SENSE']:g} / {lams['GRAPPA']:g}, {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
