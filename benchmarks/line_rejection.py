"""Motion-corrupted line rejection (``recon.reject_corrupted_lines``) on brain slices with rigid motion events.

Each test slice (held-out brain subjects, T1w/T2w/PDw, 8 coils, noise 0.02) is acquired with ``events`` rigid motion
events of ``lines`` phase-encoding lines each (±3 px, ±3°; the coils do not move; ``data.line_motion``), in random
or linear line order, fully sampled (R=1) or at R=2 (every other line plus 16 central lines). Every method uses the
same ESPIRiT maps, estimated from the motion-free noisy data's 24×24 centre (so that only the lines differ), and is
scored against the noise-free object combined with those maps (``physics.coils.sense_combine``, as
``make_dataset(reference="noise_free")``; PSNR dB / SSIM, fastMRI definitions on magnitudes):

  motion-free   CG-SENSE of the same acquisition without motion (the ceiling)
  no rejection  CG-SENSE of all acquired lines
  rejected      CG-SENSE of the lines ``reject_corrupted_lines`` keeps
  oracle        CG-SENSE without the truly corrupted lines
  MoDL          the shipped ``modl``/``brain`` weights on all lines, and on the kept lines

plus the detection's recall (corrupted lines dropped) and false drops (clean lines dropped).

    python benchmarks/line_rejection.py [--quick]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.brain import brain_volume, espirit_acs_maps  # noqa: E402
from tfmri_zoo.data.line_motion import corrupt_lines  # noqa: E402
from tfmri_zoo.metrics import psnr, ssim  # noqa: E402
from tfmri_zoo.physics.coils import sense_combine  # noqa: E402
from tfmri_zoo.physics.fft import fft2c  # noqa: E402
from tfmri_zoo.recon import reject_corrupted_lines, sense  # noqa: E402
from report import write_json  # noqa: E402


def acquisition_mask(width, acceleration):
    mask = np.zeros(width, np.float32)
    mask[::acceleration] = 1
    mask[width // 2 - 8:width // 2 + 8] = 1
    return mask


def scores(image, reference):
    image, reference = np.abs(image)[None], np.abs(reference)[None]
    return float(psnr(reference, image)), float(ssim(reference, image))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64², one slice per case")
    parser.add_argument("--out", default="out/line_rejection")
    args = parser.parse_args(argv)
    shape, subjects, lines = ((64, 64), 1, 3) if args.quick else ((128, 128), 3, 6)
    model = models.get("modl", weights="brain")
    rng = np.random.default_rng(0)
    rows, start = [], time.time()
    for ordering in ("random", "linear"):
        for acceleration in (1, 2):
            totals = {}
            for subject in range(subjects):
                volume = brain_volume(100 + subject, "test", num_slices=1, shape=shape, coils=8, noise_level=0.0,
                                      contrast=("t1w", "t2w", "pdw")[subject % 3])
                image, maps = volume["image"][0], volume["sensitivities_true"][0]
                moved, corrupted = corrupt_lines(image, maps, rng, lines_per_event=lines, events=2,
                                                 ordering=ordering)
                sigma = 0.02 * float(np.mean(np.abs(image[np.abs(image) > 0.1 * np.abs(image).max()])))
                noise = sigma / np.sqrt(2) * (rng.standard_normal(moved.shape) + 1j * rng.standard_normal(moved.shape))
                clean = fft2c(maps * image).numpy() + noise
                mask = acquisition_mask(shape[1], acceleration)
                measured = ((moved + noise) * mask).astype(np.complex64)[None]
                espirit = espirit_acs_maps((clean * mask).astype(np.complex64)[None])
                reference = sense_combine((maps * image)[None], espirit).numpy()[0]
                line_mask = mask[None, None, None]
                result = reject_corrupted_lines(measured, line_mask, espirit)
                kept = result.mask.numpy()
                oracle = line_mask * ~corrupted
                images = {
                    "motion-free": sense((clean * mask).astype(np.complex64)[None], line_mask, espirit, lam=1e-3,
                                         max_iter=30),
                    "no rejection": sense(measured, line_mask, espirit, lam=1e-3, max_iter=30),
                    "rejected": result.image,
                    "oracle": sense(measured, oracle, espirit, lam=1e-3, max_iter=30),
                    "MoDL, no rejection": model({"kspace": measured, "mask": line_mask, "sensitivities": espirit}),
                    "MoDL, rejected": model({"kspace": measured * kept, "mask": kept, "sensitivities": espirit}),
                }
                for name, estimate in images.items():
                    totals.setdefault(name, []).append(scores(np.asarray(estimate)[0], reference))
                acquired = mask > 0
                dropped = (kept[0, 0, 0] == 0) & acquired
                found = np.sum(dropped & corrupted) / max(1, np.sum(corrupted & acquired))
                totals.setdefault("recall", []).append(float(found))
                totals.setdefault("false drops", []).append(float(np.sum(dropped & ~corrupted)))
            row = {"ordering": ordering, "R": acceleration,
                   **{k: np.mean(v, axis=0).round(3).tolist() for k, v in totals.items()}}
            rows.append(row)
            cells = "  ".join(f"{k} {v[0]:.2f}/{v[1]:.3f}" for k, v in row.items() if isinstance(v, list))
            print(f"{ordering:>6} R={acceleration}: {cells}  recall {row['recall']:.2f}  false drops "
                  f"{row['false drops']:.1f}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "line_rejection.json")
    write_json(path, {"rows": rows, "shape": shape, "subjects": subjects, "lines_per_event": lines, "events": 2,
                          "seconds": round(time.time() - start, 1)})
    print(f"wrote {path} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
