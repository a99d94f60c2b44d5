"""When XLA helps: every method timed as a plain ``tf.function`` and under ``jit_compile=True``, interleaved.

One process, one input per method, each repeat runs both variants in turn (``timing.interleaved``); min and median
wall time and the ratio XLA / graph (below 1: XLA is faster). The zoo's defaults follow this table (README,
"XLA per method"); re-run it on your hardware before changing one.

    python benchmarks/xla.py            # 256×256, 8 coils (radial: 128², 64 spokes)
    python benchmarks/xla.py --quick    # 32×32, 4 coils, 3 repeats (a smoke test)
"""
import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from random_data import random_multicoil  # noqa: E402
from timing import interleaved  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.physics.density import radial_density  # noqa: E402
from tfmri_zoo.physics.trajectories import radial_trajectory  # noqa: E402
from tfmri_zoo.recon import l1_wavelet, sense  # noqa: E402
from tfmri_zoo.training.losses import ComplexMSE  # noqa: E402


def radial_inputs(coils, size, spokes, seed=0):
    """Random golden-angle radial k-space ``[1, C, M]`` with trajectory ``[1, M, 2]`` and density ``[1, M]``."""
    rng = np.random.default_rng(seed)
    points = radial_trajectory(spokes, 2 * size).astype(np.float32)
    density = radial_density(points, (size, size), spokes, 2 * size)
    kspace = (rng.standard_normal((1, coils, len(points))) +
              1j * rng.standard_normal((1, coils, len(points)))).astype(np.complex64)
    maps = (rng.standard_normal((1, coils, size, size)) + 1j * rng.standard_normal((1, coils, size, size)))
    maps = (maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))).astype(np.complex64)
    return {"kspace": tf.constant(kspace), "trajectory": tf.constant(points[None]),
            "density": tf.constant(np.asarray(density, np.float32).reshape(1, -1)), "sensitivities": tf.constant(maps)}


def both(fn, inputs):
    """``{"graph": run, "XLA": run}``: no-argument runners of ``fn(inputs)`` compiled without and with XLA."""
    compiled = {name: tf.function(fn, jit_compile=xla) for name, xla in (("graph", False), ("XLA", True))}
    return {name: (lambda f=f: tf.nest.map_structure(lambda t: t.numpy(), f(inputs))) for name, f in compiled.items()}


def train_step_runners(name, inputs, target):
    """One optimiser step of ``models.get(name, preset="small")`` through ``train_on_batch``, compiled both ways."""
    runners = {}
    for label, xla in (("graph", False), ("XLA", True)):
        keras.utils.set_random_seed(0)
        model = models.get(name, preset="small")
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=ComplexMSE(), jit_compile=xla)
        runners[label] = (lambda m=model: m.train_on_batch(inputs, target))
    return runners


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32×32, 4 coils, 3 repeats")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    size, coils, repeats = (32, 4, 3) if args.quick else (args.size, args.coils, args.repeats)
    radial_size, spokes = (32, 16) if args.quick else (128, 64)
    cart = {k: tf.constant(v) for k, v in random_multicoil(1, coils, size).items()}
    radial = radial_inputs(coils, radial_size, spokes)
    radial_sampling = {"trajectory": radial["trajectory"], "density": radial["density"]}
    modl = models.get("modl", preset="small")
    modl_nufft = models.get("modl", preset="small", operator="nufft")
    varnet = models.get("varnet", preset="small")
    target = tf.cast(tf.abs(sense(cart["kspace"], cart["mask"], cart["sensitivities"], max_iter=2)), tf.complex64)
    methods = {
        "CG-SENSE, 20 iterations": both(lambda x: sense(x["kspace"], x["mask"], x["sensitivities"], max_iter=20),
                                        cart),
        "l1-wavelet, 30 iterations": both(lambda x: l1_wavelet(x["kspace"], x["mask"], x["sensitivities"],
                                                               lam=1e-3, max_iter=30), cart),
        "NUFFT CG-SENSE, 10 iterations": both(lambda x: sense(x["kspace"], radial_sampling, x["sensitivities"],
                                                              max_iter=10), radial),
        "MoDL (small) inference": both(lambda x: modl(x), cart),
        "MoDL-NUFFT (small) inference": both(lambda x: modl_nufft(x), radial),
        "VarNet (small) inference": both(lambda x: varnet(x), cart),
        "MoDL (small) train step": train_step_runners("modl", cart, target),
    }
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(f"device {device}, {coils} coils, Cartesian {size}x{size} (4x equispaced), radial {radial_size}x{radial_size} "
          f"({spokes} spokes); min / median of {repeats} interleaved repeats (ms)")
    print(f"{'method':<32} {'graph':>17} {'XLA':>17} {'XLA / graph':>12}")
    rows = {}
    for name, runners in methods.items():
        times = interleaved(runners, repeats)
        rows[name] = times
        ratio = times["XLA"][0] / times["graph"][0]
        print(f"{name:<32} {times['graph'][0] * 1e3:>8.1f}/{times['graph'][1] * 1e3:<8.1f} "
              f"{times['XLA'][0] * 1e3:>8.1f}/{times['XLA'][1] * 1e3:<8.1f} {ratio:>12.2f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
