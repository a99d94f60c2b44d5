"""Plug-and-play with a denoiser learned without clean images (RARE) against one learned on clean images.

Brain slices (domain-randomised generator, 96², 8 coils, noise 0.02, ESPIRiT maps; train / validation / test
subjects from disjoint slabs). Two denoisers of the same architecture (DnCNN, 32 channels, 8 layers, residual), the
same steps and optimiser:

  RARE    trained on artefact-to-artefact pairs: each training scan, acquired at R=2 (fastMRI random mask), split
          into two random halves of its lines, each half reconstructed by CG-SENSE (``training.rare_pairs``); no
          fully sampled image is used
  clean   trained on the fully sampled noise-free images with Gaussian noise (σ = 1, 2, 5 % of the peak;
          ``models.denoiser.noisy_pairs``) — the usual PnP denoiser, which needs clean data

Both are used in RED (``recon.red``, fixed point, 30 iterations) on the test subjects at R=4 (fastMRI random masks,
centre 0.08), with ν chosen per denoiser on the validation subjects; CG-SENSE (λ chosen there too) is the classical
reference. PSNR / SSIM against the noise-free object.

    python benchmarks/rare.py [--quick] [--steps 600]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo.data.brain import brain_slices, undersample  # noqa: E402
from tfmri_zoo.metrics import psnr, ssim  # noqa: E402
from tfmri_zoo.models.denoiser import make_denoiser, noisy_pairs  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc  # noqa: E402
from tfmri_zoo.recon import red, sense  # noqa: E402
from tfmri_zoo.training import ComplexMSE, rare_pairs  # noqa: E402
from report import write_json  # noqa: E402


def train_denoiser(x, y, steps, network):
    keras.utils.set_random_seed(0)
    denoiser = make_denoiser("small", network=network)
    denoiser.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ComplexMSE())
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(4096, seed=0).repeat().batch(8)
    history = denoiser.fit(data, steps_per_epoch=max(1, steps // 5), epochs=5, verbose=0).history
    return denoiser, history["loss"]


def score(image, reference):
    return float(psnr(np.abs(reference), np.abs(image))), float(ssim(np.abs(reference), np.abs(image)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="48², few subjects and steps, tiny network")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", default="out/rare")
    args = parser.parse_args(argv)
    start = time.time()
    if args.quick:
        shape, counts, steps, network, iterations = (48, 48), {"train": 1, "val": 1, "test": 1}, 5, \
            {"name": "dncnn", "filters": 8, "layers": 3, "batch_norm": False}, 5
    else:
        shape, counts, steps, network, iterations = (96, 96), {"train": 16, "val": 2, "test": 4}, args.steps, \
            {"name": "dncnn", "filters": 32, "layers": 8, "batch_norm": False}, 30
    data = {split: brain_slices(split, n, shape, seed=900 + 40 * i) for i, (split, n) in enumerate(counts.items())}
    train, _ = undersample(data["train"], RandomMaskFunc([0.08], [2]), seed=1)
    pairs = [rare_pairs(train["kspace"], train["mask"], train["sensitivities"], seed) for seed in range(2)]
    rare_x, rare_y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    clean_x, clean_y = noisy_pairs(data["train"]["reference"], (0.01, 0.02, 0.05), seed=0)
    print(f"data: {len(rare_x)} RARE pairs, {len(clean_x)} clean pairs {shape} ({time.time() - start:.0f} s)",
          flush=True)
    denoisers = {}
    for name, (x, y) in (("RARE (no clean data)", (rare_x, rare_y)), ("clean pairs", (clean_x, clean_y))):
        denoisers[name], losses = train_denoiser(x, y, steps, network)
        print(f"{name}: loss {losses[0]:.4g} → {losses[-1]:.4g}", flush=True)

    (val, _), (test, _) = (undersample(data[split], RandomMaskFunc([0.08], [4]), seed=seed)
                            for split, seed in (("val", 2), ("test", 3)))
    cg = lambda inputs, lam: sense(inputs["kspace"], inputs["mask"], inputs["sensitivities"], lam=lam,  # noqa: E731
                                   max_iter=30).numpy()
    lam = max((1e-3, 1e-2, 1e-1), key=lambda v: score(cg(val, v), data["val"]["reference"])[0])
    results = {"zero-filled": score(sense(test["kspace"], test["mask"], test["sensitivities"], lam=0.0,
                                          max_iter=1).numpy(), data["test"]["reference"]),
               f"CG-SENSE (λ={lam:g})": score(cg(test, lam), data["test"]["reference"])}
    for name, denoiser in denoisers.items():
        run = lambda inputs, nu, d=denoiser: red(inputs["kspace"], inputs["mask"],  # noqa: E731
                                                 inputs["sensitivities"], denoiser=d, nu=nu, max_iter=iterations,
                                                 cg_iterations=5).numpy()
        nu = max((0.01, 0.03, 0.1, 0.3, 1.0, 3.0), key=lambda v: score(run(val, v), data["val"]["reference"])[0])
        results[f"RED, {name} (ν={nu:g})"] = score(run(test, nu), data["test"]["reference"])
    for name, (p, s) in results.items():
        print(f"{name:>34}: PSNR {p:.2f} dB  SSIM {s:.3f}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "rare.json")
    write_json(path, {"results": results, "steps": steps, "network": network, "shape": shape, "subjects": counts,
                          "seconds": round(time.time() - start, 1)})
    print(f"wrote {path} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
