"""Command line: ``tfmri-zoo quickstart | train | evaluate | recon | export | list``.

  tfmri-zoo quickstart --out DIR [--steps N] [--model modl] [--from-scratch]   the main job
                  (see tfmri_zoo.training.quickstart)
  tfmri-zoo train --config models/modl/config.yaml [--data DIR | --synthetic] [--out DIR]   (a config with
                  data.source: brain or synthetic generates its data)
  tfmri-zoo evaluate --model FILE.keras --data DIR [--accelerations 4 8]      fastMRI metrics table
  tfmri-zoo recon --model FILE.keras --input IN.h5 --output OUT.h5 [--png OUT.png] [--acceleration R] [--adapt]
                  (--adapt: ZS-SSL fine-tunes the model on each slice first, tfmri_zoo.training.zero_shot_adapt)
  tfmri-zoo calibrate --model FILE.keras|NAME/WEIGHTS --data VAL_DIR --acceleration R [R ...] --out CAL.keras
                  (the data-consistency weight chosen on your validation slices per acceleration, kept in the model
                  as a table read at each mask's acceleration: tfmri_zoo.training.calibration; --steps dc prior-l1
                  also the model's image as the ℓ1-wavelet's prior: tfmri_zoo.training.prior_l1)
  tfmri-zoo export --model FILE.keras --out BASE [--name N] [--version V] [--image-shape H W]   TF-Serving
                  SavedModel from a .keras file
  tfmri-zoo package-weights --model-file runs/modl-brain/final.keras --config models/modl/brain.yaml --weights brain
  tfmri-zoo list                                               registered models and their presets
"""
import argparse
import json
import sys


def _quickstart(args):
    from tfmri_zoo.training import quickstart

    quickstart.run(args.out, model_name=args.model, weights=None if args.from_scratch else args.weights,
                   preset=args.preset, steps=args.steps, batch_size=args.batch_size,
                   learning_rate=args.learning_rate, seed=args.seed)


def _load(path):
    import keras

    import tfmri_zoo  # noqa: F401  (registers the zoo's classes for safe_mode loading)

    return keras.saving.load_model(path, safe_mode=True)


def _train(args):
    from tfmri_zoo.training.config import train_from_config

    from tfmri_zoo.training.config import load_config

    if not args.data and not args.synthetic and load_config(args.config)["data"]["source"] == "files":
        raise SystemExit("train: give --data DIR (fastMRI-schema .h5 files) or --synthetic, or a config whose "
                         "data.source is 'synthetic' or 'brain'")
    train_from_config(args.config, data_dir=args.data, synthetic=args.synthetic, out_dir=args.out)


def _evaluate(args):
    from tfmri_zoo.training.evaluate import evaluate, format_table

    table = evaluate(_load(args.model), args.data, accelerations=tuple(args.accelerations),
                     sensitivities=args.sensitivities)
    print(format_table(table))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=2)


def _recon(args):
    from tfmri_zoo.training.evaluate import reconstruct_file
    from tfmri_zoo.training.zero_shot import zero_shot_adapt

    model = _load(args.model)
    if args.adapt:
        model = lambda inputs, training=False, trained=model: zero_shot_adapt(  # noqa: E731
            trained, inputs, epochs=args.adapt_epochs).image
    if args.prior_l1:
        import tensorflow as tf

        from tfmri_zoo import recon

        lam, weight = args.prior_l1
        solve = tf.function(lambda k, m, s, p: recon.l1_wavelet(k, m, s, lam=lam, max_iter=100, prior=p,
                                                               prior_weight=weight))
        model = lambda inputs, training=False, net=model: solve(  # noqa: E731
            inputs["kspace"], inputs["mask"], inputs["sensitivities"], net(inputs, training=False))
    reconstruct_file(model, args.input, args.output, acceleration=args.acceleration,
                     png_path=args.png, sensitivities=args.sensitivities)
    print(args.output)


def _calibrate(args):
    from tfmri_zoo import models
    from tfmri_zoo.training import save_model_atomic
    from tfmri_zoo.training.calibration import calibrate_data_consistency, set_calibration
    from tfmri_zoo.training.prior_l1 import calibrate_prior_l1, prior_l1_table

    if args.model.endswith(".keras"):
        model = _load(args.model)
    elif args.model.count("/") == 1:
        name, weights = args.model.split("/")
        model = models.get(name, weights=weights)
    else:
        raise SystemExit(f"calibrate: --model: expected FILE.keras or NAME/WEIGHTS, got {args.model!r}")
    accelerations = sorted(set(args.acceleration))
    options = {"accelerations": accelerations, "mask_type": args.mask_type, "reference": args.reference, "log": print}
    report = {}
    if "dc" in args.steps:
        result = calibrate_data_consistency(model, args.data, metric=args.metric, **options)
        set_calibration(model, result)
        report["dc"] = {str(r): choice for r, choice in result.items()}
    if "prior-l1" in args.steps:      # after the data-consistency table: its image is the prior
        result = calibrate_prior_l1(model, args.data, **options)
        model.set_prior_l1(prior_l1_table(result))
        report["prior_l1"] = {str(r): {**choice, "scores": {str(w): v for w, v in choice["scores"].items()}}
                              for r, choice in result.items()}
    save_model_atomic(model, args.out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    print(json.dumps({step: {r: {k: v for k, v in choice.items() if k not in ("points", "scores")}
                             for r, choice in chosen.items()} for step, chosen in report.items()}))
    print(args.out)


def _list(args):
    from tfmri_zoo import models

    for name in models.list():
        presets = models.presets(name)
        print(f"{name:14s} presets: {', '.join(sorted(presets))}   small: {json.dumps(presets['small'])}")


def _export(args):
    from tfmri_zoo.export import export_saved_model, write_models_config

    model = _load(args.model)
    name = args.name or getattr(model, "registry_name", None) or type(model).__name__.lower()
    path = export_saved_model(model, args.out, model_name=name, version=args.version,
                              image_shape=None if args.image_shape is None else tuple(args.image_shape))
    write_models_config(args.out, [name])
    print(path)


def _package_weights(args):
    from tfmri_zoo import models
    from tfmri_zoo.models.weights import dummy_inputs, save_pretrained, weights_entry
    from tfmri_zoo.training.config import load_config

    spec = load_config(args.config)["model"]
    name = args.name or spec["name"]
    # a fine-tuned shipped set (model.weights) keeps that set's configuration, with the config's on top
    config = {**(weights_entry(name, spec["weights"])["config"] if spec["weights"] else {}), **spec["config"]}
    # a fresh model of the config (no optimizer state in the file) with the trained weights
    model = models.get(name, preset=None, **config)
    model(dummy_inputs())
    model.set_weights(_load(args.model_file).get_weights())
    entry = save_pretrained(model, name, args.weights, config,
                            command=f"tfmri-zoo train --config {args.config} --out runs/{name}-{args.weights}",
                            card=f"models/{name}/README.md")
    print(json.dumps({k: v for k, v in entry.items() if k != "config"}, indent=2))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tfmri-zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="train, evaluate against classical baselines, figure, SavedModel")
    q.add_argument("--out", default="out/quickstart")
    q.add_argument("--model", default="modl")
    q.add_argument("--weights", default="brain", help="shipped weight set to fine-tune (models.list_weights)")
    q.add_argument("--from-scratch", action="store_true", help="ignore shipped weights; train from --preset")
    q.add_argument("--preset", default="small")
    q.add_argument("--steps", type=int, default=100, help="training / fine-tuning steps (0: evaluate only)")
    q.add_argument("--batch-size", type=int, default=4)
    q.add_argument("--learning-rate", type=float, default=5e-5)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_quickstart)
    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("--config", required=True)
    t.add_argument("--data", help="folder of fastMRI-schema .h5 files (train/val/test subfolders)")
    t.add_argument("--synthetic", action="store_true", help="use the embedded synthetic data")
    t.add_argument("--out", default="runs/train")
    t.set_defaults(func=_train)
    v = sub.add_parser("evaluate", help="fastMRI metrics of a .keras model per acceleration")
    v.add_argument("--model", required=True)
    v.add_argument("--data", required=True, help="folder or list of fastMRI-schema .h5 files")
    v.add_argument("--accelerations", type=int, nargs="+", default=[4, 8])
    v.add_argument("--sensitivities", default="stored", choices=["stored", "espirit"])
    v.add_argument("--json", help="also write the table as JSON")
    v.set_defaults(func=_evaluate)
    r = sub.add_parser("recon", help="reconstruct one fastMRI-schema .h5 file")
    r.add_argument("--model", required=True)
    r.add_argument("--input", required=True)
    r.add_argument("--output", required=True)
    r.add_argument("--png")
    r.add_argument("--acceleration", type=int)
    r.add_argument("--sensitivities", default="stored", choices=["stored", "espirit"])
    r.add_argument("--adapt", action="store_true",
                   help="fine-tune the model on each slice's own k-space first (ZS-SSL, no fully sampled data)")
    r.add_argument("--adapt-epochs", type=int, default=12, help="most ZS-SSL epochs of 10 steps per slice")
    r.add_argument("--prior-l1", type=float, nargs=2, metavar=("LAM", "MU"),
                   help="end with the ℓ1-wavelet reconstruction (100 FISTA iterations) that has the model's image as "
                        "prior: ½‖y − Ex‖² + ½·MU‖x − x_net‖² + LAM‖Ψx‖₁, LAM absolute (in the file's units). A "
                        "model saved by 'calibrate --steps prior-l1' carries its own table (λ relative to max|Eᴴy|) "
                        "and needs no --prior-l1")
    r.set_defaults(func=_recon)
    c = sub.add_parser("calibrate", help="choose a model's data-consistency weight on validation slices per "
                       "acceleration and save the model with the table (each call uses its mask's acceleration)")
    c.add_argument("--model", required=True, help="a .keras file, or a shipped weight set as NAME/WEIGHTS "
                   "(e.g. admmnet/brain)")
    c.add_argument("--data", required=True, help="folder of fastMRI-schema validation .h5 files with stored maps")
    c.add_argument("--acceleration", type=int, nargs="+", default=[4, 8],
                   help="accelerations to calibrate at (between them the weights follow a power law in R)")
    c.add_argument("--mask-type", default="random", choices=["random", "equispaced"])
    c.add_argument("--reference", default="measured", choices=["measured", "noise_free"])
    c.add_argument("--metric", default="ssim", choices=["ssim", "psnr", "nmse"],
                   help="validation score of the data-consistency weights")
    c.add_argument("--steps", nargs="+", default=["dc"], choices=["dc", "prior-l1"],
                   help="what to calibrate: dc, the data-consistency weights (λ₀, ν); prior-l1, the (λ, μ) of a last "
                        "step that takes the model's image as the prior of the ℓ1-wavelet reconstruction "
                        "(tfmri_zoo.training.prior_l1; PSNR-scored)")
    c.add_argument("--out", required=True, help="the calibrated .keras file")
    c.add_argument("--json", help="also write every scored point as JSON ({\"dc\": {R: ...}, \"prior_l1\": ...})")
    c.set_defaults(func=_calibrate)
    sub.add_parser("list", help="registered models").set_defaults(func=_list)
    e = sub.add_parser("export", help="export a .keras model for TF-Serving")
    e.add_argument("--model", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--name")
    e.add_argument("--version", type=int)
    e.add_argument("--image-shape", type=int, nargs="+", metavar="N",
                   help="static image size H W of the signatures (default dynamic; a model with a prior-ℓ1 step: "
                        "the size it was first called at)")
    e.set_defaults(func=_export)
    w = sub.add_parser("package-weights", help="ship a trained .keras model's weights in tfmri_zoo/weights/")
    w.add_argument("--model-file", required=True, help="the trained .keras file (e.g. runs/modl-brain/final.keras)")
    w.add_argument("--config", required=True, help="the YAML config it was trained with")
    w.add_argument("--weights", required=True, help="weight set name, e.g. brain")
    w.add_argument("--name", help="registry name (default: the config's model.name)")
    w.set_defaults(func=_package_weights)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
