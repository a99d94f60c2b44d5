"""Input-pipeline throughput on fastMRI-knee-shaped synthetic files (15 coils × 640 × 368 per slice).

Writes a few synthetic fastMRI-schema volumes of realistic shape (reused from ``--data-dir`` when present), then
times ``tfmri_zoo.data.make_dataset`` in the configurations a training run uses and prints examples/s.

The pipeline must never be the bottleneck: pass the measured training step rate of a model (MoDL, E2E-VarNet, ...)
with ``--step-rate`` (steps/s at ``--step-batch`` examples per step) and the script prints the ratio of the
pipeline rate to the rate the training step consumes (target ≥ 5×).

Usage::

    python benchmarks/pipeline.py --quick
    python benchmarks/pipeline.py --files 4 --slices 8 --step-rate 2.5 --step-batch 1
"""
import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from tfmri_zoo.data.fastmri import SliceDataset  # noqa: E402
from tfmri_zoo.data.pipeline import make_dataset  # noqa: E402
from tfmri_zoo.data.synthetic import write_synthetic_file  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc  # noqa: E402

SHAPE, COILS, OVERSAMPLING = (640, 368), 15, 2.0


def write_files(directory, num_files, num_slices):
    """Writes (or reuses) ``num_files`` knee-shaped volumes; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i in range(num_files):
        path = os.path.join(directory, f"knee_like_{num_slices}_{i:03d}.h5")
        if not os.path.exists(path):
            start = time.perf_counter()
            write_synthetic_file(path, num_slices, SHAPE, COILS, seed=1000 + i, oversampling=OVERSAMPLING)
            print(f"  wrote {os.path.basename(path)} ({num_slices} slices) in {time.perf_counter() - start:.1f} s")
        paths.append(path)
    return paths


def measure(dataset, epochs):
    """``(examples/s, CPU-seconds per example)`` over ``epochs`` passes after a warm-up pass.

    CPU-seconds per example (process time, all threads) do not depend on how busy the machine is: with ``N`` free
    cores the pipeline can deliver up to about ``N / cpu_per_example`` examples/s.
    """
    for _ in dataset:
        pass
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    for _ in range(epochs):
        for inputs, _ in dataset:
            count += int(inputs["kspace"].shape[0])
    return count / (time.perf_counter() - start), (time.process_time() - cpu) / count


def model_step_rate(name, preset, dataset, steps):
    """Training steps/s of zoo model ``name`` on batches of ``dataset`` (Adam, complex MSE), after one warm-up step."""
    import keras

    from tfmri_zoo.models import get
    from tfmri_zoo.training.losses import ComplexMSE

    model, loss_fn, optimizer = get(name, preset=preset), ComplexMSE(), keras.optimizers.Adam(1e-4)
    batches = iter(dataset.repeat())

    @tf.function
    def step(inputs, target):
        with tf.GradientTape() as tape:
            loss = loss_fn(target, model(inputs, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step(*next(batches))
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(batches)).numpy()
    return steps / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 volumes x 3 slices, 1 timed epoch")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "tfmri_zoo_pipeline_bench"))
    parser.add_argument("--step-rate", type=float, default=None,
                        help="training steps/s of a model (MoDL/VarNet) on this machine, to compare against")
    parser.add_argument("--step-batch", type=int, default=1, help="examples per training step")
    parser.add_argument("--measure-model", default=None, metavar="NAME",
                        help="measure --step-rate here: train zoo model NAME (e.g. modl, varnet) on the "
                             "320x320-cropped data for a few steps (slow on CPU)")
    parser.add_argument("--preset", default="small", help="preset of --measure-model (small or default)")
    parser.add_argument("--model-steps", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.slices, args.epochs = 2, 3, 1
    print(f"tfmri-zoo pipeline benchmark: {args.files} volumes x {args.slices} slices, {COILS} coils x "
          f"{SHAPE[0]} x {SHAPE[1]}, {os.cpu_count()} CPUs, TF {tf.__version__}")
    files = write_files(args.data_dir, args.files, args.slices)
    slices = SliceDataset(files)
    for i in range(len(slices)):  # warm the page cache
        slices[i]
    start = time.perf_counter()
    for i in range(len(slices)):
        slices[i]
    read_rate = len(slices) / (time.perf_counter() - start)
    print(f"  {'read only (SliceDataset, 1 thread)':40s} {read_rate:7.1f} examples/s")
    mask_func = RandomMaskFunc([0.08], [4])
    configs = {
        "full 640x368, stored maps, batch 1": dict(batch_size=1),
        "crop 320x320, stored maps, batch 1": dict(batch_size=1, crop=(320, 320)),
        "crop 320x320, RSS target, batch 4": dict(batch_size=4, crop=(320, 320), sensitivities=None),
    }
    rates = {}
    for name, kwargs in configs.items():
        dataset = make_dataset(files, mask_func=mask_func, shuffle=True, seed=0, **kwargs)
        rates[name], cpu = measure(dataset, args.epochs)
        print(f"  {name:40s} {rates[name]:7.1f} examples/s   {cpu:5.2f} CPU-s/example "
              f"(~{os.cpu_count() / cpu:.0f} examples/s if all {os.cpu_count()} cores were free)")
    if args.measure_model:
        data = make_dataset(files, mask_func=mask_func, crop=(320, 320), batch_size=args.step_batch,
                            drop_remainder=True)
        args.step_rate = model_step_rate(args.measure_model, args.preset, data, args.model_steps)
        print(f"  training step rate of {args.measure_model}/{args.preset} (crop 320x320, batch {args.step_batch}, "
              f"{'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}): {args.step_rate:.3f} steps/s")
    if args.step_rate:
        consumed = args.step_rate * args.step_batch
        for name, rate in rates.items():
            verdict = "OK (>= 5x)" if rate >= 5 * consumed else "INPUT-BOUND RISK (< 5x)"
            print(f"  {name:40s} {rate / consumed:6.1f}x the training consumption of {consumed:.2f} "
                  f"examples/s: {verdict}")
    else:
        print("  (pass --step-rate STEPS_PER_S [--step-batch N] to compare with a model's training step rate)")
    return rates


if __name__ == "__main__":
    main()
