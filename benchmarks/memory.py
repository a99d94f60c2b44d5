"""Peak memory of one training step of an unrolled network (MoDL: DnCNN + CG data consistency, no weight
sharing) for 1…12 unrolled iterations, with and without recomputing each cascade in the backward pass
(:mod:`tfmri_zoo.layers.recompute`, the ``recompute`` argument of MoDL).

What is measured: TensorFlow's allocator statistics, ``tf.config.experimental.get_memory_info(device)`` on
``GPU:0`` when TensorFlow sees a GPU, else on ``CPU:0`` (TF 2.21 keeps the same statistics for its CPU allocator
when it is the BFC allocator, ``TF_CPU_ALLOCATOR_USE_BFC=true``, which this script sets).
For each configuration: one training step (forward, gradient, Adam update; ``tf.function``) is run once to trace,
then ``reset_memory_stats`` and a second step is measured. "step memory" = ``peak − current`` before that step:
the bytes of tensors alive at the worst moment of the step beyond the weights, optimizer state and data, i.e. the
activations kept for back-propagation plus backward temporaries. Memory outside TF's allocator (the Python
process, oneDNN scratch buffers, the runtime) is not included.

Usage: ``python benchmarks/memory.py [--quick] [--size 192] [--iterations 1 2 4 8 12]``.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# TF 2.21 keeps allocator statistics on the CPU only with its BFC allocator (else get_memory_info/reset_memory_stats
# raise "Allocator stats not available for device 'CPU:0'"); it must be chosen before TensorFlow starts.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


def measure(iterations, recompute, size, coils, filters, layers, cg_iterations):
    """One configuration → dict with ``step_mb`` (peak − current of the allocator) and ``seconds`` per step."""
    import keras
    import tensorflow as tf

    from tests.models.zoo_contract import toy_problem
    from tfmri_zoo.models.modl import MoDL

    keras.utils.set_random_seed(0)
    inputs, target = toy_problem(batch=1, coils=coils, height=size, width=size)
    inputs = {k: tf.constant(v) for k, v in inputs.items()}
    target = tf.constant(target)
    model = MoDL(iterations=iterations, cg_iterations=cg_iterations, share_weights=False, recompute=recompute,
                         regularizer={"name": "dncnn", "filters": filters, "layers": layers})
    model(inputs)
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(model(inputs, training=True) - target))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    step().numpy()  # trace and warm up
    device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
    tf.config.experimental.reset_memory_stats(device)
    before = tf.config.experimental.get_memory_info(device)["current"]
    t0 = time.time()
    step().numpy()
    seconds = time.time() - t0
    peak = tf.config.experimental.get_memory_info(device)["peak"]
    return {"iterations": iterations, "recompute": recompute, "device": device, "step_mb": (peak - before) / 2 ** 20,
            "seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="96×96, 4 coils, DnCNN 16×4, iterations 1 4 12")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--cg-iterations", type=int, default=10)
    parser.add_argument("--iterations", type=int, nargs="+", default=[1, 2, 4, 8, 12])
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.coils, args.filters, args.layers, args.iterations = 96, 4, 16, 4, [1, 4, 12]
    rows = []
    for recompute in (False, True):
        for iterations in args.iterations:
            r = measure(iterations, recompute, args.size, args.coils, args.filters, args.layers, args.cg_iterations)
            rows.append(r)
            print(f"iterations {iterations:2d}  recompute {str(recompute):5s}  step memory {r['step_mb']:8.1f} MB  "
                  f"({r['device']}, {r['seconds']:.2f} s/step)", flush=True)
    print(f"\nMoDL, {args.size}×{args.size}, {args.coils} coils, DnCNN {args.filters}×{args.layers}, "
          f"CG {args.cg_iterations}, batch 1, no weight sharing")
    for recompute in (False, True):
        sel = {r["iterations"]: r for r in rows if r["recompute"] == recompute}
        first, last = min(sel), max(sel)
        print(f"recompute={recompute}: peak({last}) / peak({first}) = "
              f"{sel[last]['step_mb'] / sel[first]['step_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
