"""E2E-VarNet inference time per slice on CPU: tfmri-zoo (TensorFlow) beside fastMRI's PyTorch VarNet.

Both networks use the fastMRI default configuration (12 cascades, 18 channels, 4 pools; sensitivity U-Net 8 channels,
4 pools; ~30M parameters) with random weights (the time does not depend on the weight values). Inputs: one slice of
random complex k-space, fastMRI's equispaced 4× mask with 8 % centre lines.

    python benchmarks/inference.py            # 8×320×320 and 15×640×368 (brain- and knee-sized)
    python benchmarks/inference.py --quick    # 8×320×320 only, fewer repeats
    python benchmarks/inference.py --jit      # also time the TensorFlow model under XLA (jit_compile=True)

The PyTorch peer runs when ``torch`` and ``fastmri`` import; otherwise only the TensorFlow numbers are printed.
Measured set-up: ``pip install torch==2.13.0``, ``pip install fastmri --no-deps`` (0.3.0; its full dependency list
pins old packages) and ``pip install pandas`` (``import fastmri.models`` needs it). Ratio = TensorFlow time / PyTorch time (target ≤ 0.7).
"""
import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timing import interleaved  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.physics.sampling import EquispacedMaskFunc  # noqa: E402

SHAPES = [(8, 320, 320), (15, 640, 368)]


def make_slice(coils, height, width, seed=0):
    """Random complex k-space ``[1, C, H, W]`` complex64, mask ``[1, 1, 1, W]`` float32, number of ACS lines."""
    rng = np.random.default_rng(seed)
    kspace = (rng.standard_normal((1, coils, height, width)) +
              1j * rng.standard_normal((1, coils, height, width))).astype(np.complex64)
    mask, num_low = EquispacedMaskFunc([0.08], [4], seed=seed)((1, coils, height, width), seed=seed)
    return kspace * mask, mask.astype(np.float32), num_low


def tensorflow_runner(model, kspace, mask, jit):
    """A no-argument function running one TensorFlow inference (a ``tf.function``) to completion."""
    inputs = {"kspace": tf.constant(kspace), "mask": tf.constant(mask)}

    @tf.function(jit_compile=jit)
    def infer(x):
        return model(x, training=False)

    def run():
        return infer(inputs).numpy()

    return run


def torch_peer():
    """``((torch, fastmri.models.VarNet), None)``, or ``(None, reason)`` when either does not import."""
    try:
        import torch
        from fastmri.models import VarNet
    except Exception as error:  # noqa: BLE001 - any import failure means no peer
        return None, f"{type(error).__name__}: {error}"
    return (torch, VarNet), None


def torch_runner(peer, kspace, mask, num_low):
    """``(run, parameter count)`` for fastMRI's VarNet in the same configuration, in inference mode."""
    torch, VarNet = peer
    net = VarNet(num_cascades=12, sens_chans=8, sens_pools=4, chans=18, pools=4).eval()
    k = torch.from_numpy(np.stack([kspace.real, kspace.imag], -1))
    m = torch.from_numpy(mask[..., None] > 0)  # fastMRI layout [1, 1, 1, W, 1]

    def run():
        with torch.inference_mode():
            try:
                return net(k, m, num_low)
            except TypeError:  # older fastmri: forward(masked_kspace, mask)
                return net(k, m)

    return run, sum(p.numel() for p in net.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8×320×320 only, 2 timed repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per case (default 3, quick 2)")
    parser.add_argument("--jit", action="store_true", help="also time TensorFlow with jit_compile=True")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for both frameworks (0: all)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    parser.add_argument("--shapes", nargs="+", default=None, metavar="CxHxW",
                        help="slice shapes to time (default 8x320x320 15x640x368; quick: the first)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    shapes = SHAPES[:1] if args.quick else SHAPES
    if args.shapes:
        shapes = [tuple(int(n) for n in shape.lower().split("x")) for shape in args.shapes]
    tf.config.set_visible_devices([], "GPU")
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    model = models.get("varnet", preset="default")
    peer, reason = (None, "--no-torch") if args.no_torch else torch_peer()
    if peer is not None and args.threads:
        peer[0].set_num_threads(args.threads)
    print(f"CPU threads: {args.threads or os.cpu_count()}, repeats: {repeats}, TF {tf.__version__}"
          + (f", torch {peer[0].__version__}" if peer else f", PyTorch peer unavailable ({reason})"))
    for coils, height, width in shapes:
        kspace, mask, num_low = make_slice(coils, height, width)
        runners = {"tf": tensorflow_runner(model, kspace, mask, jit=False)}
        if args.jit:
            runners["xla"] = tensorflow_runner(model, kspace, mask, jit=True)
        if peer is not None:
            runners["torch"], torch_params = torch_runner(peer, kspace, mask, num_low)
        t = {name: median for name, (_, median) in interleaved(runners, repeats).items()}
        line = f"{coils}x{height}x{width}: tfmri-zoo VarNet ({model.count_params():,} params) {t['tf']:.3f} s/slice"
        if args.jit:
            line += f", XLA {t['xla']:.3f} s/slice"
        if peer is not None:
            best = min(t["tf"], t.get("xla", np.inf))
            line += (f" | fastMRI PyTorch VarNet ({torch_params:,} params) {t['torch']:.3f} s/slice"
                     f" | ratio TF/PyTorch {t['tf'] / t['torch']:.2f}"
                     + (f" (XLA {t['xla'] / t['torch']:.2f}, best {best / t['torch']:.2f})" if args.jit else ""))
        print(line, flush=True)


if __name__ == "__main__":
    main()
