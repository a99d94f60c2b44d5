"""Two MultiWorkerMirroredStrategy workers on loopback (TF_CONFIG, free ports) finish with identical weights."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_local_workers_end_with_identical_weights(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    try:
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                                        "index": index}}),
                       PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
                       CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests.training.multiworker_worker", str(tmp_path / f"w{index}.npz")],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        outputs = [p.communicate(timeout=150)[0] for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(processes, outputs):
        assert p.returncode == 0, out[-3000:]
    first, second = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    assert len(first.files) > 2
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    initial_loss, final_loss = first["loss"][0], first["loss"][-1]
    assert np.isfinite(final_loss) and final_loss < initial_loss
