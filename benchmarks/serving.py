"""Latency of an exported SavedModel signature vs the Keras model in eager mode and under ``tf.function``.

    python benchmarks/serving.py [--quick] [--model modl] [--preset small] [--size 320] [--prior-l1 LAM MU]

Batch 1 and 8, on this machine's device. The three paths are timed interleaved (each repeat runs every path once)
and the min and median of the repeats printed, with the ratios SavedModel / ``tf.function`` (the fair one: both run
a traced graph) and SavedModel / eager (eager mode pays per-op dispatch and host copies). The SavedModel is loaded
with ``tf.saved_model.load`` (what TF-Serving runs); its float32 real/imag inputs are converted inside the graph.
``--prior-l1 LAM MU`` also exports the model with its prior-image ℓ1-wavelet step (``ReconModel(prior_l1=...)``, one
table entry; 100 FISTA iterations) and times that SavedModel in the same interleaved repeats: the step's cost.
``--jit-compile`` exports both with XLA-compiled signatures (``export_saved_model(jit_compile=True)``).
"""
import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from random_data import random_multicoil  # noqa: E402
from timing import interleaved  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.export import export_saved_model, serving_inputs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (seconds)")
    parser.add_argument("--model", default="modl")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--weights", default=None, help="a shipped weight set instead of --preset (e.g. brain-r248)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--jit-compile", action="store_true", help="export with XLA-compiled signatures")
    parser.add_argument("--prior-l1", type=float, nargs=2, metavar=("LAM", "MU"), default=None,
                        help="also time the SavedModel with the prior-image ℓ1 step at (λ, μ) (λ relative to max|Eᴴy|)")
    args = parser.parse_args(argv)
    size, coils, repeats = (32, 4, 3) if args.quick else (args.size, args.coils, args.repeats)
    model = (models.get(args.model, weights=args.weights) if args.weights
             else models.get(args.model, preset=args.preset))
    model(random_multicoil(1, coils, size, mask="random"))
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    rows = []
    graph = tf.function(lambda inputs: model(inputs))
    with tempfile.TemporaryDirectory() as base:
        path = export_saved_model(model, base, model_name=args.model, version=1, warmup=False,
                                  jit_compile=args.jit_compile)
        signature = tf.saved_model.load(path).signatures["serving_default"]
        paths = {"SavedModel": lambda request: signature(**request)["image"].numpy()}
        if args.prior_l1:
            model.set_prior_l1({"accelerations": [4.0], "lam": [args.prior_l1[0]], "weight": [args.prior_l1[1]]})
            with_step = tf.saved_model.load(export_saved_model(model, base, model_name=args.model, version=2,
                                                               warmup=False, jit_compile=args.jit_compile)
                                            ).signatures["serving_default"]
            paths["SavedModel+l1"] = lambda request: with_step(**request)["image"].numpy()
            model.set_prior_l1(None)
        for batch in (1, 8):
            inputs = random_multicoil(batch, coils, size, seed=batch, mask="random")
            tensors = {k: tf.constant(v) for k, v in inputs.items()}
            request = {k: tf.constant(v) for k, v in
                       serving_inputs(inputs["kspace"], inputs["mask"][:, 0, 0], inputs["sensitivities"]).items()}
            times = interleaved({"eager": lambda: model(inputs).numpy(),
                                 "tf.function": lambda: graph(tensors).numpy(),
                                 **{name: lambda f=f: f(request) for name, f in paths.items()}}, repeats)
            rows.append((batch, times))
    print(f"{args.model} ({args.weights or args.preset}), {coils} coils, {size}x{size}, device {device}"
          f"{', XLA-compiled SavedModels' if args.jit_compile else ''}, min / median of {repeats} "
          "interleaved repeats (ms)")
    print(f"{'batch':>5} {'eager Keras':>15} {'tf.function':>15} {'SavedModel':>15} {'saved/tf.function':>18} "
          f"{'saved/eager':>12}")
    for batch, t in rows:
        cells = " ".join(f"{t[k][0] * 1e3:>7.1f}/{t[k][1] * 1e3:<7.1f}" for k in ("eager", "tf.function", "SavedModel"))
        print(f"{batch:>5} {cells} {t['SavedModel'][0] / t['tf.function'][0]:>18.2f} "
              f"{t['SavedModel'][0] / t['eager'][0]:>12.2f}")
    if args.prior_l1:
        for batch, t in rows:
            print(f"batch {batch}: SavedModel with the prior-ℓ1 step {t['SavedModel+l1'][0] * 1e3:.1f}/"
                  f"{t['SavedModel+l1'][1] * 1e3:.1f} ms, {t['SavedModel+l1'][0] / t['SavedModel'][0]:.2f}× the "
                  "SavedModel without it")
    return rows


if __name__ == "__main__":
    main()
