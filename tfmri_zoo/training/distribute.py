"""tf.distribute helpers: pick a strategy by name, shard a pipeline per worker.

``train(..., strategy=make_strategy("mirrored"))`` trains on all local GPUs (``MirroredStrategy``);
``"multi_worker"`` uses ``MultiWorkerMirroredStrategy``, configured by the ``TF_CONFIG`` environment variable
(``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``), on every worker. The
model must be created inside the strategy's scope, so pass ``train`` a callable that builds it. Datasets: give the
global batch; with the zoo's pipeline (auto-shard policy ``DATA``) every worker keeps its share of each batch, or
build the pipeline per worker with ``make_dataset(..., input_context=...)`` / :func:`shard_for_worker` (files).
"""
import json
import os

import tensorflow as tf

STRATEGIES = (None, "default", "mirrored", "multi_worker")


def make_strategy(name=None):
    """Returns a ``tf.distribute.Strategy``: ``None``/``"default"`` (no distribution), ``"mirrored"``,
    ``"multi_worker"`` (reads ``TF_CONFIG``)."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}, got {name!r}.")
    if name in (None, "default"):
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_info():
    """``(num_workers, worker_index)`` from ``TF_CONFIG`` (``(1, 0)`` when it is unset)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    workers = config.get("cluster", {}).get("worker", [])
    if not workers:
        return 1, 0
    return len(workers), int(config.get("task", {}).get("index", 0))


def shard_for_worker(files):
    """This worker's share ``files[index::num_workers]`` of a file list (for ``make_dataset``)."""
    num_workers, index = worker_info()
    return list(files)[index::num_workers]
