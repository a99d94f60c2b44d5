"""Generalisation: shipped (or given) learned models on data they were not trained on, against λ-tuned baselines.

    python benchmarks/generalisation.py [--quick] [--models modl unet vn] [--weights brain] [--out out/generalisation]
                                        [--only DOMAIN ...] [--test-subjects N] [--model-files LABEL=FILE.keras ...]
                                        [--accelerations 4 8] [--mask-type random|equispaced] [--calibrate [ssim|psnr]]
                                        [--calibration-table R [R ...]] [--prior-l1]

Domains (each with its own validation files, on which CG-SENSE's and ℓ1-wavelet's λ are chosen, and test files):

  brain-128        held-out brain subjects (test slabs), 128², 8 coils — the training domain, for reference
  brain-256-16c    other matrix size and coil array: 256², 16 coils
  brain-noisy      image SNR ≈ 7 (noise level 0.15: beyond the range of MoDL's stages 1–2, 0.005–0.07; inside the
                   range of its stage 3, 0.005–0.2)
  brain-very-noisy noise level 0.35, beyond every training range
  brain-t2w        T2-weighted only: bright CSF on darker tissue, much empty background (the high-dynamic-range case)
  brain-scanner    brain-128's subjects as a scanner images them (``texture="scanner"``: lower GM–WM contrast, fine
                   texture, finite resolution; tfmri_zoo.data.brain_anatomy) — held-out subjects of the kind the
                   ``brain-scanner`` weights were fine-tuned on
  epi-96x128-12c   a real scan made by others: nibabel's example EPI brain (T2*-weighted, 96 × 128, its own blur
                   and noise; tfmri_zoo.data.epi_scan) with 12 simulated coils, noise 0.02 and ESPIRiT maps
  phantom          the project's second domain (tfmri_zoo.data.synthetic: piecewise-smooth tissue phantoms; the
                   shipped MoDL saw other phantoms of this generator in its second training stage)
  bart-*           data made by others: ``bart phantom -k -s 8`` analytic k-space (Shepp-Logan, six random tubes),
                   ``bart ecalib -m1`` maps, noise-free and noisy (needs the ``bart`` command)

Each domain: one validation and one test subject (file) of two slices — small, so the whole run takes minutes on a
CPU; the numbers are indicative, not a population study (``--test-subjects N`` widens the brain domains' test sets).

The learned models are used as shipped: no fine-tuning on any domain (the baselines get a per-domain λ, the
learned models do not — a conservative comparison for them; ``--calibrate`` adds, per model, a row ``NAME+cal`` whose
data-consistency weight (λ₀, ν) is chosen per domain and acceleration on the same validation files, with CG-SENSE
as the per-slice floor, scored by SSIM or ``--calibrate psnr``: :mod:`tfmri_zoo.training.calibration`;
``--calibration-table 2 4 8`` adds a row ``NAME+table``: one model per domain calibrated the same way at those
accelerations only and evaluated at every ``--accelerations`` R through its table — at other R, the power law between
the table's entries; :func:`tfmri_zoo.training.set_calibration`); ``--prior-l1`` adds a row ``NAME+l1``: the
model with its prior-image ℓ1 step (``prior_l1``, in its graph as served), the ℓ1-wavelet reconstruction with the
network's image as prior, ``½‖y − Ex‖² + ½μ‖x − x_net‖² + λ‖Ψx‖₁``, λ (relative to ``max|Eᴴy|``) and μ chosen per
domain and acceleration on the validation files (μ = 0: the ℓ1-wavelet, ∞: the model;
:mod:`tfmri_zoo.training.prior_l1`).
Every method sees the same k-space, fastMRI per-volume random masks (R=4 centre 0.08, R=8 centre 0.04, other R centre
0.32 / R; ``--mask-type equispaced`` for ``EquispacedMaskFractionFunc``) and coil maps. A learned model below CG-SENSE
on any test slice of a domain is flagged ``BELOW CG-SENSE`` (how many slices, the worst margin). Writes
``OUT/generalisation.json``.

``--reference noise_free`` scores every simulated domain (brain, phantom) against the noise-free object instead of the
fully sampled noisy data (λ then chosen against it too); BART's files store no noise-free object and keep the measured
reference (the JSON says which reference each domain used).
"""
import argparse
import math
import os
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.training.comparison import compare, margins  # noqa: E402
from report import model_file_reconstructors, write_json  # noqa: E402


def brain_domain(folder, shape, coils, noise_level=None, num_slices=2, subjects=(1, 1), contrast=None, texture=None):
    from tfmri_zoo.data.brain import brain_dataset

    kwargs = {} if noise_level is None else {"noise_level": noise_level}
    kwargs.update({} if contrast is None else {"contrast": contrast})
    kwargs.update({} if texture is None else {"texture": texture})
    splits = brain_dataset(folder, splits={"val": subjects[0], "test": subjects[1]}, num_slices=num_slices, seed=7,
                           shape=shape, coils=coils, **kwargs)
    return splits["val"], splits["test"]


def phantom_domain(folder, shape, coils, num_slices=2, subjects=(1, 1)):
    from tfmri_zoo.data.synthetic import default_dataset

    splits = default_dataset(folder, shape=shape, coils=coils, num_slices=num_slices,
                             splits={"val": subjects[0], "test": subjects[1]}, seed=5)
    return splits["val"], splits["test"]


def epi_domain(folder, test_files=1):
    from tfmri_zoo.data.epi_scan import epi_dataset

    splits = epi_dataset(folder, test_files=min(int(test_files), 6))
    return splits["val"], splits["test"]


def bart_domain(folder, kind, size, noise_level, num_slices=2):
    from tfmri_zoo.data.bart_phantom import write_bart_phantom_file

    files = {}
    for split, seed in (("val", 100), ("test", 200)):
        path = os.path.join(folder, f"bart_{kind}_{split}.h5")
        if not os.path.exists(path):
            write_bart_phantom_file(path, kind, num_slices=num_slices, size=size, coils=8, seed=seed,
                                    noise_level=noise_level)
        files[split] = [path]
    return files["val"], files["test"]


def domains(out, quick, test_subjects=1, only=None):
    """``{name: (val_files, test_files)}``, generated on first use under ``out/data`` (only the domains named in
    ``only`` when given); the brain domains with ``test_subjects`` test subjects (data folders suffixed ``-test{N}``
    when not 1; the first is the same subject)."""
    data = os.path.join(out, "data")
    subjects, suffix = (1, test_subjects), ("" if test_subjects == 1 else f"-test{test_subjects}")

    def brain(name, *args, **kwargs):
        return lambda: brain_domain(os.path.join(data, name + suffix), *args, subjects=subjects, **kwargs)

    if quick:
        makers = {"brain-48": brain("brain-48", (48, 48), 4, num_slices=1)}
        if shutil.which("bart"):
            makers["bart-shepp_logan"] = lambda: bart_domain(os.path.join(data, "bart"), "shepp_logan", 48, 0.0, 1)
    else:
        makers = {
            "brain-128": brain("brain-128", (128, 128), 8),
            "brain-256-16c": brain("brain-256", (256, 256), 16),
            "brain-noisy": brain("brain-noisy", (128, 128), 8, noise_level=0.15),
            "brain-very-noisy": brain("brain-very-noisy", (128, 128), 8, noise_level=0.35),
            "brain-t2w": brain("brain-t2w", (128, 128), 8, contrast="t2w"),
            "brain-scanner": brain("brain-scanner", (128, 128), 8, texture="scanner"),
            "epi-96x128-12c": lambda: epi_domain(os.path.join(data, "epi" + suffix), test_subjects),
            "phantom": lambda: phantom_domain(os.path.join(data, "phantom"), (128, 128), 8),
        }
        if shutil.which("bart"):
            for kind, noise in (("shepp_logan", 0.0), ("tubes", 0.0), ("shepp_logan", 0.05)):
                name = f"bart-{kind}" + (f"-noise{noise:g}" if noise else "")
                makers[name] = (lambda folder=os.path.join(data, name), kind=kind, noise=noise:
                                bart_domain(folder, kind, 128, noise))
    return {name: make() for name, make in makers.items() if not only or name in only}


def compare_domain(learned, domain, val, test, quick, reference, accelerations=(4, 8), mask_type="random",
                   calibrated=None, calibration_metric="ssim", prior_l1=None):
    """One domain's comparison (:func:`tfmri_zoo.training.comparison.compare`, BART domains against their measured
    reference; small λ grids and iterations when ``quick``; ``calibrated``: ``{label: model}`` calibrated on ``val``;
    ``prior_l1``: ``{name: model}`` that get the row ``NAME+l1``, the model with its prior-image ℓ1 step):
    ``{"table", "margins", "seconds", "reference"}``."""
    t0 = time.time()
    reference = "measured" if domain.startswith("bart") else reference
    quick_args = {"lam_grids": {"sense": [1e-3, 1e-2], "l1_wavelet": [1e-3, 3e-3]},
                  "iterations": {"l1_wavelet": 30}, "prior_weights": (0.0, 0.1, math.inf)} if quick else {}
    table = compare(learned, val, test, accelerations=tuple(accelerations), reference=reference, mask_type=mask_type,
                    calibrated=calibrated, calibration_metric=calibration_metric, prior_l1=prior_l1, **quick_args)
    table = {key: {n: row for n, row in rows.items() if n != "_examples"} for key, rows in table.items()}
    names = list(learned) + list(calibrated or {}) + [f"{name}+l1" for name in prior_l1 or {}]
    return {"table": table, "margins": {n: margins(table, n) for n in names}, "seconds": time.time() - t0,
            "reference": reference}


def table_models(names, weights, accelerations, domain, val, reference, mask_type, metric):
    """``{"NAME+table": reconstruct}``: each shipped model with its step's table calibrated on the domain's
    validation files at ``accelerations`` (none when ``accelerations`` is ``None``)."""
    from tfmri_zoo.training import calibrate_data_consistency, set_calibration

    reference = "measured" if domain.startswith("bart") else reference
    tables = {}
    for name in names if accelerations else []:
        model = models.get(name, weights=weights)
        choices = calibrate_data_consistency(model, val, accelerations=tuple(accelerations), mask_type=mask_type,
                                             reference=reference, metric=metric)
        set_calibration(model, choices)
        tables[f"{name}+table"] = lambda x, m=model: m(x, training=False).numpy()
    return tables


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="48² data, one brain and one BART domain, few λ")
    parser.add_argument("--models", nargs="+", default=None, help="zoo models with shipped weights (default: all)")
    parser.add_argument("--weights", default="brain")
    parser.add_argument("--out", default="out/generalisation")
    parser.add_argument("--reference", choices=["measured", "noise_free"], default="measured",
                        help="target of the simulated domains: the fully sampled noisy data (fastMRI) or the "
                             "noise-free object")
    parser.add_argument("--only", nargs="+", default=None, metavar="DOMAIN", help="run these domains only")
    parser.add_argument("--test-subjects", type=int, default=1,
                        help="test subjects (of 2 slices) per brain domain; the first is the default one (the EPI "
                             "scan: test files of 2 slices, at most 6)")
    parser.add_argument("--model-files", nargs="+", default=[], metavar="LABEL=FILE.keras",
                        help="also evaluate trained .keras files (e.g. a new training stage beside the shipped one)")
    parser.add_argument("--accelerations", nargs="+", type=int, default=[4, 8],
                        help="acceleration factors (centre fraction 0.08 at R=4, 0.04 at R=8, else 0.32 / R)")
    parser.add_argument("--mask-type", choices=["random", "equispaced"], default="random",
                        help="fastMRI RandomMaskFunc or EquispacedMaskFractionFunc")
    parser.add_argument("--calibrate", nargs="?", const="ssim", default=None, choices=["ssim", "psnr"],
                        help="also each zoo model with its data-consistency weight chosen on the domain's validation "
                             "files per acceleration (row NAME+cal)")
    parser.add_argument("--calibration-table", nargs="+", type=int, default=None, metavar="R",
                        help="also each zoo model with a table of weights calibrated at these accelerations on the "
                             "domain's validation files, read at each mask's acceleration (row NAME+table)")
    parser.add_argument("--prior-l1", action="store_true",
                        help="also each zoo model's image as the prior of the ℓ1-wavelet reconstruction, λ and μ "
                             "chosen on the domain's validation files per acceleration (row NAME+l1)")
    args = parser.parse_args(argv)
    names = args.models or [m for m in models.list() if args.weights in models.list_weights(m)]
    if args.quick:
        names = names[:1]
    if not names:
        raise SystemExit(f"no model ships '{args.weights}' weights: {models.list()}")
    learned, calibrated, prior_l1 = {}, {}, {}
    for name in names:
        model = models.get(name, weights=args.weights)
        learned[name] = lambda x, m=model: m(x, training=False).numpy()
        if args.calibrate:
            calibrated[f"{name}+cal"] = model
        if args.prior_l1:
            prior_l1[name] = model
    learned.update(model_file_reconstructors(args.model_files))
    results = {}
    for domain, (val, test) in domains(args.out, args.quick, args.test_subjects, args.only).items():
        tables = table_models(names, args.weights, args.calibration_table, domain, val, args.reference,
                              args.mask_type, args.calibrate or "ssim")
        results[domain] = compare_domain({**learned, **tables}, domain, val, test, args.quick, args.reference,
                                         args.accelerations, args.mask_type, calibrated, args.calibrate or "ssim",
                                         prior_l1)
        reference, table = results[domain]["reference"], results[domain]["table"]
        for key, rows in table.items():
            line = "  ".join(f"{n} {row['psnr']:.2f}/{row['ssim']:.3f}" for n, row in rows.items())
            floor = {n: m[key]["sense"] for n, m in results[domain]["margins"].items()}
            flags = ", ".join(f"{n} on {f['slices_below']}/{f['slices']} slices (worst {f['worst_slice_psnr']:+.2f} dB)"
                              for n, f in floor.items() if f["slices_below"])
            print(f"{domain:>24} ({reference}) {key}: {line}" + (f"   BELOW CG-SENSE: {flags}" if flags else ""),
                  flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "generalisation.json")
    write_json(path, {"weights": args.weights, "models": names, "reference": args.reference,
                      "mask_type": args.mask_type, "domains": results})
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
