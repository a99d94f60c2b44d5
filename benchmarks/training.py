"""Training throughput: optimiser steps per second of zoo models on random multi-coil data, interleaved.

Each model takes ``train_on_batch`` steps (Adam, complex MSE against a fixed target) on one batch of random 4×
equispaced k-space with random normalised maps; models are timed in turn within every repeat (``timing.interleaved``)
after a warm-up step, and the min / median time per step and examples per second (from the median) are printed.
Architectures: those of the brain configs, ``models/<name>/brain.yaml`` (``--quick``: the small presets).

    python benchmarks/training.py                     # 256×256, 8 coils, batch 4
    python benchmarks/training.py --quick             # 32×32, 4 coils, batch 2, 3 repeats
    python benchmarks/training.py --xla               # steps compiled with jit_compile=True
"""
import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402
from random_data import random_multicoil  # noqa: E402
from timing import interleaved  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.training.losses import ComplexMSE  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("modl", "varnet", "vn")


def brain_config(name):
    """The architecture of ``models/<name>/brain.yaml`` (the configuration the brain weights are trained with)."""
    with open(os.path.join(ROOT, "models", name, "brain.yaml")) as f:
        return yaml.safe_load(f)["model"]["config"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32×32, 4 coils, batch 2, small presets, 3 repeats")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--xla", action="store_true", help="compile the train steps with XLA")
    args = parser.parse_args(argv)
    size, coils, batch, repeats = (32, 4, 2, 3) if args.quick else (args.size, args.coils, args.batch, args.repeats)
    inputs = {k: tf.constant(v) for k, v in random_multicoil(batch, coils, size).items()}
    target = tf.constant(np.random.default_rng(1).standard_normal((batch, size, size)).astype(np.complex64))
    runners = {}
    for name in args.models:
        keras.utils.set_random_seed(0)
        model = models.get(name, preset="small") if args.quick else models.get(name, preset=None, **brain_config(name))
        model(inputs)  # build, so that the parameters can be counted
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=ComplexMSE(), jit_compile=args.xla)
        runners[f"{name} ({model.count_params():,} params)"] = (lambda m=model: m.train_on_batch(inputs, target))
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    times = interleaved(runners, repeats)
    print(f"device {device}, batch {batch} x {coils} coils x {size}x{size}, XLA {args.xla}; {repeats} interleaved "
          f"repeats after a warm-up step")
    print(f"{'model':<32} {'min s/step':>11} {'median s/step':>14} {'examples/s':>11}")
    for name, (best, median) in times.items():
        print(f"{name:<32} {best:>11.3f} {median:>14.3f} {batch / median:>11.1f}", flush=True)
    return times


if __name__ == "__main__":
    main()
