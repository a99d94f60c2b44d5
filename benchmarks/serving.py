"""Latency of an exported SavedModel signature vs the eager Keras model (batch 1 and 8), on this machine's device.

    python benchmarks/serving.py [--quick] [--model modl] [--preset small] [--size 320]

Prints the median latency of each path and the ratio SavedModel / eager. The SavedModel is loaded with
``tf.saved_model.load`` (what TF-Serving runs: the traced graph), the eager path calls the Keras model directly.
"""
import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.export import export_saved_model, serving_inputs  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc  # noqa: E402


def _inputs(batch, coils, size, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, coils, size, size)
    kspace = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    maps = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))
    mask, _ = RandomMaskFunc([0.08], [4])((batch, coils, size, size), seed=seed)
    mask = np.broadcast_to(mask, (batch, 1, 1, size)).astype(np.float32)
    return {"kspace": kspace * mask, "mask": mask, "sensitivities": maps}


def _median_seconds(fn, repeats):
    fn()  # warm-up (tracing, allocation)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (seconds)")
    parser.add_argument("--model", default="modl")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    size, coils, repeats = (32, 4, 3) if args.quick else (args.size, args.coils, args.repeats)
    model = models.get(args.model, preset=args.preset)
    model(_inputs(1, coils, size))
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    rows = []
    with tempfile.TemporaryDirectory() as base:
        path = export_saved_model(model, base, model_name=args.model, version=1, warmup=False)
        signature = tf.saved_model.load(path).signatures["serving_default"]
        for batch in (1, 8):
            inputs = _inputs(batch, coils, size, seed=batch)
            request = {k: tf.constant(v) for k, v in
                       serving_inputs(inputs["kspace"], inputs["mask"][:, 0, 0], inputs["sensitivities"]).items()}
            eager = _median_seconds(lambda: model(inputs).numpy(), repeats)
            served = _median_seconds(lambda: signature(**request)["image"].numpy(), repeats)
            rows.append((batch, eager, served))
    print(f"{args.model} ({args.preset}), {coils} coils, {size}x{size}, device {device}, median of {repeats}")
    print(f"{'batch':>5} {'eager Keras ms':>15} {'SavedModel ms':>14} {'ratio saved/eager':>18}")
    for batch, eager, served in rows:
        print(f"{batch:>5} {eager * 1e3:>15.1f} {served * 1e3:>14.1f} {served / eager:>18.2f}")
    return rows


if __name__ == "__main__":
    main()
