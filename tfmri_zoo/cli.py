"""Command line: ``tfmri-zoo quickstart | list | export``.

  tfmri-zoo quickstart --out DIR [--steps N] [--model modl]   the main job (see tfmri_zoo.training.quickstart)
  tfmri-zoo list                                               registered models and their presets
  tfmri-zoo export --model FILE.keras --out BASE [--name N] [--version V]   TF-Serving SavedModel from a .keras file
"""
import argparse
import json
import sys


def _quickstart(args):
    from tfmri_zoo.training import quickstart

    quickstart.run(args.out, model_name=args.model, preset=args.preset, steps=args.steps,
                   batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed)


def _list(args):
    from tfmri_zoo import models

    for name in models.list():
        presets = models.presets(name)
        print(f"{name:14s} presets: {', '.join(sorted(presets))}   small: {json.dumps(presets['small'])}")


def _export(args):
    import keras

    import tfmri_zoo.models  # noqa: F401  (registers the zoo's classes for safe_mode loading)
    from tfmri_zoo.export import export_saved_model, write_models_config

    model = keras.saving.load_model(args.model, safe_mode=True)
    name = args.name or getattr(model, "registry_name", None) or type(model).__name__.lower()
    path = export_saved_model(model, args.out, model_name=name, version=args.version)
    write_models_config(args.out, [name])
    print(path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tfmri-zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="train, evaluate against classical baselines, figure, SavedModel")
    q.add_argument("--out", default="out/quickstart")
    q.add_argument("--model", default="modl")
    q.add_argument("--preset", default="small")
    q.add_argument("--steps", type=int, default=600)
    q.add_argument("--batch-size", type=int, default=4)
    q.add_argument("--learning-rate", type=float, default=1e-3)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_quickstart)
    sub.add_parser("list", help="registered models").set_defaults(func=_list)
    e = sub.add_parser("export", help="export a .keras model for TF-Serving")
    e.add_argument("--model", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--name")
    e.add_argument("--version", type=int)
    e.set_defaults(func=_export)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
