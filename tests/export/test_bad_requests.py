"""Bad requests to an exported SavedModel are refused with ``InvalidArgumentError`` naming the argument — in a clean
process that imports only TensorFlow, and with ``jit_compile=True`` (XLA drops asserts inside compiled code)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.test_base import ResidualCNN
from tfmri_zoo.export import export_saved_model, serving_inputs


def _request(inputs):
    return serving_inputs(inputs["kspace"], inputs["mask"][:, 0, 0], inputs["sensitivities"])


def _bad_requests(request):
    nan_k = request["kspace"].copy()
    nan_k[1, 2, 3, 4, 0] = np.nan
    inf_s = request["sensitivities"].copy()
    inf_s[0, 0, 0, 0, 1] = np.inf
    zero_mask = request["mask"].copy()
    zero_mask[1] = 0.0
    return {"kspace": {**request, "kspace": nan_k},
            "sensitivities": {**request, "sensitivities": inf_s},
            "mask": {**request, "mask": zero_mask},
            "mask: shape": {**request, "mask": request["mask"][:, :, :16]},
            "sensitivities: shape": {**request, "sensitivities": request["sensitivities"][:, :, :16]}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    inputs, _ = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)
    model = ResidualCNN(filters=4)
    expected = model(inputs).numpy()
    base = tmp_path_factory.mktemp("bad_requests")
    path = export_saved_model(model, str(base), model_name="toy", version=1, warmup=False)
    jit_path = export_saved_model(model, str(base), model_name="toy_xla", version=1, warmup=False, jit_compile=True)
    return inputs, expected, path, jit_path


def test_clean_process_refuses_nan_kspace_and_other_bad_requests(exported, tmp_path):
    inputs, expected, path, _ = exported
    request = _request(inputs)
    cases = _bad_requests(request)
    np.savez(tmp_path / "good.npz", **request)
    for i, (word, bad) in enumerate(cases.items()):
        np.savez(tmp_path / f"bad{i}.npz", **bad)
    script = textwrap.dedent(f"""
        import json, sys, numpy as np, tensorflow as tf
        serve = tf.saved_model.load({path!r}).signatures["serving_default"]
        def call(name):
            return serve(**{{k: tf.constant(v) for k, v in np.load(name).items()}})
        np.save("good.npy", call("good.npz")["image"].numpy())
        results = []
        for i in range({len(cases)}):
            try:
                out = call(f"bad{{i}}.npz")
                results.append(["no error", bool(np.isnan(out["image"].numpy()).any())])
            except tf.errors.InvalidArgumentError as e:
                results.append(["InvalidArgumentError", e.message])
        json.dump(results, open("results.json", "w"))
        assert "tfmri_zoo" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ""}, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    good = np.load(tmp_path / "good.npy")
    np.testing.assert_allclose(good[..., 0] + 1j * good[..., 1], expected, atol=1e-5 * np.abs(expected).max())
    import json

    results = json.load(open(tmp_path / "results.json"))
    for (word, _), (kind, message) in zip(cases.items(), results):
        assert kind == "InvalidArgumentError", (word, kind, message)
        assert word in message, (word, message)


def test_jit_compiled_signatures_keep_their_checks(exported):
    inputs, expected, _, jit_path = exported
    request = _request(inputs)
    loaded = tf.saved_model.load(jit_path)
    for name in ("serving_default", "complex"):
        serve = loaded.signatures[name]
        if name == "complex":
            to_complex = {k: (v[..., 0] + 1j * v[..., 1]).astype(np.complex64) if k != "mask" else v
                          for k, v in request.items()}
            good, bad = to_complex, dict(to_complex)
            bad["kspace"] = bad["kspace"].copy()
            bad["kspace"][0, 0, 0, 0] = np.nan
        else:
            good, bad = request, _bad_requests(request)["kspace"]
        out = serve(**{k: tf.constant(v) for k, v in good.items()})["image"].numpy()
        image = out if name == "complex" else out[..., 0] + 1j * out[..., 1]
        np.testing.assert_allclose(image, expected, atol=1e-4 * np.abs(expected).max())
        with pytest.raises(tf.errors.InvalidArgumentError, match="kspace"):
            serve(**{k: tf.constant(v) for k, v in bad.items()})
