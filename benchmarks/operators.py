"""Cost of the centred FFT pair and of the SENSE normal operator Eᴴ E relative to a bare ``fft2d``+``ifft2d`` pair.

All timed in one process, interleaved (each repeat runs every variant once), under ``tf.function``; min and median of
the repeats. Variants on the same coil images ``[B, C, H, W]`` (complex64):

  bare pair          tf.signal.ifft2d(tf.signal.fft2d(x))                     the floor
  rolled pair        fftshift/ifftshift with tf.roll around the bare pair       the textbook centred FFT (peer)
  centred pair       tfmri_zoo.physics.ifft2c(fft2c(x))                         phase ramps instead of rolls
  SENSE normal       SenseOperator(maps, mask).normal(image)                    maps, FFT, mask, inverse FFT, Σ conj(maps)

    python benchmarks/operators.py            # 256×256 × 8 coils and 320×320 × 15 coils, batch 1
    python benchmarks/operators.py --quick    # 64×64 × 4 coils
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timing import interleaved  # noqa: E402

from tfmri_zoo.physics import SenseOperator, fft2c, ifft2c  # noqa: E402


def rolled_pair(x):
    axes = (-2, -1)
    k = tf.signal.fftshift(tf.signal.fft2d(tf.signal.ifftshift(x, axes)), axes)
    return tf.signal.fftshift(tf.signal.ifft2d(tf.signal.ifftshift(k, axes)), axes)


def measure(batch, coils, size, repeats, rng):
    shape = (batch, coils, size, size)
    x = tf.constant((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64))
    maps = x / tf.cast(tf.norm(x, axis=1, keepdims=True), tf.complex64)
    image = tf.constant((rng.standard_normal(shape[:1] + shape[2:]) + 0j).astype(np.complex64))
    mask = tf.constant((rng.random((batch, 1, 1, size)) < 0.3).astype(np.float32))
    variants = {
        "bare pair": (tf.function(lambda v: tf.signal.ifft2d(tf.signal.fft2d(v))), x),
        "rolled pair": (tf.function(rolled_pair), x),
        "centred pair": (tf.function(lambda v: ifft2c(fft2c(v))), x),
        "SENSE normal": (tf.function(lambda v: SenseOperator(maps, mask).normal(v)), image),
    }
    times = interleaved({name: (lambda fn=fn, arg=arg: fn(arg).numpy()) for name, (fn, arg) in variants.items()},
                        repeats)
    floor = times["bare pair"][0]
    print(f"\n{batch}×{coils}×{size}×{size} complex64, {repeats} interleaved repeats")
    print(f"{'variant':<14} {'min ms':>8} {'median ms':>10} {'min / bare pair':>16}")
    for name, (best, median) in times.items():
        print(f"{name:<14} {best * 1e3:8.2f} {median * 1e3:10.2f} {best / floor:16.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64×64, 4 coils, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = [(1, 4, 64)] if args.quick else [(1, 8, 256), (1, 15, 320)]
    for batch, coils, size in cases:
        measure(batch, coils, size, args.repeats or (3 if args.quick else 15), rng)


if __name__ == "__main__":
    main()
