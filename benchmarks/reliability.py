"""Serving under load and faults, measured.

1. **Load**: a small MoDL exported as a TF-Serving SavedModel, loaded in this process; its ``serving_default``
   signature is called from ``threads`` threads × ``requests`` requests of mixed batch sizes (1–3) and every answer is
   compared bit for bit with the single-thread answer to the same request.
2. **Bad requests**: NaN/Inf k-space or maps, an all-zero mask and mismatched shapes through the signature: each must
   raise ``InvalidArgumentError`` naming the argument (never return a NaN image).
3. **Corrupted files**: a truncated ``saved_model.pb``, a variables shard with flipped bytes, a truncated and a
   byte-flipped ``.keras`` file: each must fail to load with an error (never load silently with other weights).
4. **NaN loss**: :func:`tfmri_zoo.training.supervised.train` on data whose targets turn NaN at epoch 3 must stop,
   write no ``final.keras`` and keep ``best.keras`` (and the backup) at the last finite epoch.
5. **Kill and resume**: a training run killed (``SIGKILL``) after epoch 2 and started again with the same arguments
   (``BackupAndRestore``) must end with the weights of an uninterrupted run.

Sizes are tiny (32×32, 4 coils): the point is behaviour, not speed. Usage:
``python benchmarks/reliability.py [--quick] [--threads 8] [--requests 50]``; ``--quick`` (used by the test suite)
runs 4 threads × 10 requests. Prints one line per check and a JSON summary; exits 1 if a check fails.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _problem(batch, seed):
    from tests.models.zoo_contract import toy_problem

    return toy_problem(batch=batch, coils=4, height=32, width=32, seed=seed)


def _model():
    from tfmri_zoo import models

    return models.get("modl", preset="small")


def _request(batch, seed):
    from tfmri_zoo.export import serving_inputs

    inputs, _ = _problem(batch, seed)
    return serving_inputs(inputs["kspace"], inputs["mask"][:, 0, 0], inputs["sensitivities"])


def check_load(workdir, threads, requests):
    """Concurrent calls of ``serving_default`` give the single-thread results bit for bit."""
    import numpy as np
    import tensorflow as tf

    from tfmri_zoo.export import export_saved_model

    model = _model()
    model(_problem(1, 0)[0])
    path = export_saved_model(model, workdir, model_name="modl", version=1, warmup=False)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    pool = [_request(1 + i % 3, seed=i) for i in range(12)]                      # mixed batch sizes 1, 2, 3

    def call(request):
        return serve(**{k: tf.constant(v) for k, v in request.items()})["image"].numpy()

    expected = [call(r) for r in pool]
    mismatches, errors, done = [], [], []
    lock = threading.Lock()

    def worker(t):
        for j in range(requests):
            i = (t * 7 + j) % len(pool)
            try:
                out = call(pool[i])
                same = out.shape == expected[i].shape and np.array_equal(out, expected[i])
                with lock:
                    done.append(i)
                    if not same:
                        mismatches.append((t, j, float(np.max(np.abs(out - expected[i])))))
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(f"{type(e).__name__}: {e}"[:200])

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    ok = not mismatches and not errors and len(done) == threads * requests
    return {"check": "load", "ok": ok, "threads": threads, "requests": threads * requests,
            "batch_sizes": [1, 2, 3], "mismatches": len(mismatches), "errors": errors[:3],
            "seconds": round(seconds, 2), "requests_per_s": round(threads * requests / seconds, 1)}, path


def check_bad_requests(path):
    """NaN/Inf, all-zero masks and mismatched shapes are refused with the argument named."""
    import numpy as np
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    good = _request(2, seed=5)
    cases = {}
    k = good["kspace"].copy()
    k[0, 1, 2, 3, 0] = np.nan
    cases["kspace: NaN"] = {**good, "kspace": k}
    k = good["kspace"].copy()
    k[1, 0, 0, 0, 1] = np.inf
    cases["kspace: Inf"] = {**good, "kspace": k}
    s = good["sensitivities"].copy()
    s[0, 0, 5, 5, 0] = np.nan
    cases["sensitivities: NaN"] = {**good, "sensitivities": s}
    m = good["mask"].copy()
    m[1] = 0
    cases["mask: all zero"] = {**good, "mask": m}
    cases["mask: shape"] = {**good, "mask": good["mask"][:, :16]}
    cases["sensitivities: shape"] = {**good, "sensitivities": good["sensitivities"][:, :3]}
    results = {}
    for word, request in cases.items():
        try:
            out = serve(**{key: tf.constant(v) for key, v in request.items()})["image"].numpy()
            results[word] = "answered" + (" with NaN" if np.isnan(out).any() else "")
        except tf.errors.InvalidArgumentError as e:
            results[word] = "refused" if word.split(":")[0] + ":" in e.message else "unnamed error"
    ok = all(v == "refused" for v in results.values())
    return {"check": "bad_requests", "ok": ok, "tried": len(cases), "results": results}


def _flip_bytes(path, count=64):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for i in range(count):
            f.seek((size // 3 + 97 * i) % size)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))


def check_corrupted_files(workdir, path):
    """Truncated/corrupted SavedModel and .keras files: what loading them raises, and what the integrity checks of
    :mod:`tfmri_zoo.export.integrity` say. OK when every file is refused by its check with a ``ValueError`` naming
    the file, and none loads silently."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfmri_zoo.export import verify_keras_file, verify_saved_model

    raw, verified = {}, {}

    def attempt(name, load, verify, target):
        try:
            load()
            raw[name] = "loaded silently"
        except Exception as e:  # noqa: BLE001 - the error type and message are the measurement
            raw[name] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:100]}"
        try:
            verify(target)
            verified[name] = "passed (not detected)"
        except ValueError as e:
            verified[name] = f"ValueError: {str(e)[:160]}" if os.path.basename(target) in str(e) else "unnamed"

    truncated = os.path.join(workdir, "truncated_pb")
    shutil.copytree(path, truncated)
    pb = os.path.join(truncated, "saved_model.pb")
    with open(pb, "r+b") as f:
        f.truncate(os.path.getsize(pb) // 2)
    attempt("saved_model.pb truncated", lambda: tf.saved_model.load(truncated), verify_saved_model, truncated)

    flipped = os.path.join(workdir, "flipped_variables")
    shutil.copytree(path, flipped)
    shard = [n for n in os.listdir(os.path.join(flipped, "variables")) if n.startswith("variables.data")][0]
    _flip_bytes(os.path.join(flipped, "variables", shard))

    def load_and_call():
        serve = tf.saved_model.load(flipped).signatures["serving_default"]
        serve(**{k: tf.constant(v) for k, v in _request(1, 0).items()})

    attempt("variables shard byte-flipped", load_and_call, verify_saved_model, flipped)

    model = _model()
    model(_problem(1, 0)[0])
    keras_path = os.path.join(workdir, "model.keras")
    model.save(keras_path)
    verify_keras_file(keras_path)
    verify_saved_model(path)
    cut = os.path.join(workdir, "truncated.keras")
    shutil.copy(keras_path, cut)
    with open(cut, "r+b") as f:
        f.truncate(os.path.getsize(cut) * 2 // 3)
    attempt(".keras truncated", lambda: keras.models.load_model(cut), verify_keras_file, cut)
    bad = os.path.join(workdir, "flipped.keras")
    shutil.copy(keras_path, bad)
    _flip_bytes(bad)

    def load_flipped():
        loaded = keras.models.load_model(bad)
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            if not np.array_equal(a, b):
                raise RuntimeError("loaded with different weights")

    attempt(".keras byte-flipped", load_flipped, verify_keras_file, bad)
    ok = (all(v != "loaded silently" and not v.startswith("RuntimeError") for v in raw.values())
          and all(v.startswith("ValueError") for v in verified.values()))
    return {"check": "corrupted_files", "ok": ok, "load_errors": raw, "integrity_checks": verified}


def training_data(nan_from_epoch=None, steps=2, epochs=4):
    """A fixed list of ``epochs × steps`` batches (the same every run); targets NaN from ``nan_from_epoch`` on.
    Without ``nan_from_epoch``: ``steps`` batches repeated, so every epoch sees the same batches (a resumed run
    restarts its data iterator: the position in the data is not part of a Keras backup)."""
    import numpy as np
    import tensorflow as tf

    batches = []
    for i in range(epochs * steps):
        inputs, target = _problem(1, seed=i % 3)
        if nan_from_epoch is not None and i >= nan_from_epoch * steps:
            target = np.full_like(target, np.nan)
        batches.append((inputs, target))
    if nan_from_epoch is None:
        batches = batches[:steps]
    keys = batches[0][0].keys()
    stacked = ({k: np.stack([b[0][k][0] for b in batches]) for k in keys}, np.stack([b[1][0] for b in batches]))
    dataset = tf.data.Dataset.from_tensor_slices(stacked).batch(1)
    return dataset.repeat() if nan_from_epoch is None else dataset


def check_nan_training(workdir):
    """A loss that turns NaN stops the run and leaves the last good checkpoint."""
    import warnings

    import keras
    import numpy as np

    from tests.models.test_base import ResidualCNN
    from tfmri_zoo.training.supervised import train

    out = os.path.join(workdir, "nan_run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, history = train(lambda: ResidualCNN(filters=4), training_data(nan_from_epoch=2), out_dir=out, epochs=4,
                           steps_per_epoch=2, seed=0, tensorboard=False, verbose=0, learning_rate=1e-3)
    losses = history.history["loss"]
    best = keras.models.load_model(os.path.join(out, "best.keras"))
    finite = all(np.all(np.isfinite(w)) for w in best.get_weights())
    stopped = len(losses) == 3 and not np.isfinite(losses[-1]) and all(np.isfinite(losses[:2]))
    warned = any("final.keras is not written" in str(w.message) for w in caught)
    ok = stopped and finite and warned and not os.path.exists(os.path.join(out, "final.keras"))
    return {"check": "nan_training", "ok": bool(ok), "epochs_run": len(losses),
            "losses": [None if not np.isfinite(v) else round(float(v), 5) for v in losses],
            "best_checkpoint_finite": bool(finite), "final_written": os.path.exists(os.path.join(out, "final.keras"))}


_RESUME_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras, numpy as np, tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    from benchmarks.reliability import training_data
    from tests.models.test_base import ResidualCNN
    from tfmri_zoo.training.supervised import train

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if {kill_after} and epoch + 1 == {kill_after}:
                os.kill(os.getpid(), signal.SIGKILL)      # after the backup of this epoch is written

    model, _ = train(lambda: ResidualCNN(filters=4), training_data(), out_dir={out!r}, epochs=4, steps_per_epoch=2,
                     seed=0, tensorboard=False, verbose=0, callbacks=[Kill()], learning_rate=3e-3)
    np.savez({weights!r}, *model.get_weights())
""")


def _run_training(workdir, name, kill_after):
    out, weights = os.path.join(workdir, name), os.path.join(workdir, name + ".npz")
    script = _RESUME_SCRIPT.format(root=ROOT, out=out, weights=weights, kill_after=kill_after)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True), weights


def check_kill_and_resume(workdir):
    """Killed after epoch 2 and restarted, training ends with the uninterrupted run's weights."""
    import numpy as np

    plain, plain_weights = _run_training(workdir, "uninterrupted", 0)
    killed, weights = _run_training(workdir, "killed", 2)
    resumed, weights = _run_training(workdir, "killed", 0)       # same arguments: resumes from the backup
    result = {"check": "kill_and_resume", "killed_exit": killed.returncode, "resumed_exit": resumed.returncode}
    if plain.returncode or resumed.returncode:
        result.update(ok=False, error=(plain.stderr or resumed.stderr)[-500:])
        return result
    a, b = np.load(plain_weights), np.load(weights)
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a.files)
    result.update(ok=killed.returncode == -signal.SIGKILL and diff == 0.0, max_weight_difference=diff)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 threads × 10 requests")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="requests per thread")
    parser.add_argument("--json", help="also write the summary here")
    args = parser.parse_args(argv)
    if args.quick:
        args.threads, args.requests = 4, 10
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    workdir = tempfile.mkdtemp(prefix="tfmri_reliability_")
    try:
        results = []
        load, path = check_load(workdir, args.threads, args.requests)
        results.append(load)
        results.append(check_bad_requests(path))
        results.append(check_corrupted_files(workdir, path))
        results.append(check_nan_training(workdir))
        results.append(check_kill_and_resume(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for r in results:
        print(("PASS " if r["ok"] else "FAIL ") + json.dumps(r))
    summary = {"ok": all(r["ok"] for r in results), "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
