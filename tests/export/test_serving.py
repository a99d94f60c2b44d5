"""SavedModel export for TF-Serving: signatures, fresh-process equality, warm-up records, atomicity, clients."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.test_base import ResidualCNN
from tfmri_zoo.export import (decode_rest_response, export_saved_model, graph_op_types, grpc_request, rest_request,
                              serving_inputs, write_models_config)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    inputs, _ = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)
    model = ResidualCNN(filters=4)
    expected = model(inputs).numpy()
    base = tmp_path_factory.mktemp("serving")
    path = export_saved_model(model, str(base), model_name="toy", version=3)
    return model, inputs, expected, str(base), path


def test_layout_and_models_config(exported):
    _, _, _, base, path = exported
    assert path == os.path.join(base, "toy", "3")
    assert sorted(os.listdir(os.path.join(base, "toy"))) == ["3"]
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    config = open(write_models_config(base, ["toy"])).read()
    assert "name: 'toy'" in config and "base_path: '/models/toy'" in config


def test_fresh_process_with_only_tensorflow_matches_keras(exported, tmp_path):
    model, inputs, expected, _, path = exported
    request = serving_inputs(inputs["kspace"], inputs["mask"][:, 0, 0], inputs["sensitivities"])
    np.savez(tmp_path / "req.npz", **request)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({path!r})
        req = dict(np.load({str(tmp_path / 'req.npz')!r}))
        out = loaded.signatures["serving_default"](**{{k: tf.constant(v) for k, v in req.items()}})
        np.save({str(tmp_path / 'out.npy')!r}, out["image"].numpy())
        assert "tfmri_zoo" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, env={**os.environ, "PYTHONPATH": ""},
                   cwd=str(tmp_path))
    out = np.load(tmp_path / "out.npy")
    image = out[..., 0] + 1j * out[..., 1]
    np.testing.assert_allclose(image, expected, atol=1e-5 * np.abs(expected).max())


def test_signatures_dynamic_shapes_and_complex_variant(exported):
    model, inputs, expected, _, path = exported
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "complex"}
    spec = loaded.signatures["serving_default"].structured_input_signature[1]
    assert spec["kspace"].shape.as_list() == [None, None, None, None, 2]
    assert spec["mask"].shape.as_list() == [None, None, None]
    out = loaded.signatures["complex"](kspace=tf.constant(inputs["kspace"]),
                                       mask=tf.constant(np.broadcast_to(inputs["mask"][:, 0], expected.shape)),
                                       sensitivities=tf.constant(inputs["sensitivities"]))
    np.testing.assert_allclose(out["image"].numpy(), expected, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_allclose(out["magnitude"].numpy(), np.abs(expected), atol=1e-5 * np.abs(expected).max())
    # A different batch size and matrix size run through the same signature.
    small, _ = zoo_contract.toy_problem(batch=1, coils=4, height=24, width=40)
    req = serving_inputs(small["kspace"], small["mask"][:, 0, 0], small["sensitivities"])
    got = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in req.items()})["magnitude"]
    np.testing.assert_allclose(got.numpy(), np.abs(model(small).numpy()), atol=1e-4)


def test_no_python_ops_in_graph(exported):
    ops = graph_op_types(exported[4])
    assert ops and not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}


@pytest.mark.skipif(shutil.which("saved_model_cli") is None, reason="saved_model_cli is installed with tensorflow")
def test_saved_model_cli_lists_signature(exported):
    shown = subprocess.run(["saved_model_cli", "show", "--all", "--dir", exported[4]], capture_output=True,
                           text=True, check=True).stdout
    for word in ("serving_default", "kspace", "mask", "sensitivities", "image", "magnitude", "DT_FLOAT"):
        assert word in shown


def test_warmup_records_match_signature(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(exported[4], "assets.extra", "tf_serving_warmup_requests")
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    assert len(records) >= 1
    log = prediction_log_pb2.PredictionLog.FromString(records[0])
    request = log.predict_log.request
    assert request.model_spec.name == "toy" and request.model_spec.signature_name == "serving_default"
    loaded = tf.saved_model.load(exported[4])
    arrays = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    assert set(arrays) == {"kspace", "mask", "sensitivities"}
    out = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in arrays.items()})
    assert np.all(np.isfinite(out["image"].numpy()))


def test_rest_body_through_signature_equals_model(exported):
    _, inputs, expected, _, path = exported
    body = json.loads(rest_request(inputs["kspace"], inputs["mask"][:, 0, 0, :], inputs["sensitivities"]))
    assert body["signature_name"] == "serving_default"
    loaded = tf.saved_model.load(path)
    # TF-Serving maps each columnar "inputs" entry to a tensor of the signature's dtype.
    out = loaded.signatures["serving_default"](**{k: tf.constant(np.asarray(v, np.float32))
                                                  for k, v in body["inputs"].items()})
    response = json.dumps({"outputs": {k: v.numpy().tolist() for k, v in out.items()}})
    np.testing.assert_allclose(decode_rest_response(response), expected, atol=1e-5 * np.abs(expected).max())


def test_grpc_request_tensors_decode_to_inputs(exported):
    _, inputs, _, _, _ = exported
    request = grpc_request(inputs["kspace"], inputs["mask"][:, 0, 0, :], inputs["sensitivities"], "toy")
    arrays = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    np.testing.assert_array_equal(arrays["kspace"][..., 0], inputs["kspace"].real)
    np.testing.assert_array_equal(arrays["kspace"][..., 1], inputs["kspace"].imag)
    np.testing.assert_array_equal(arrays["mask"][:, 5], inputs["mask"][:, 0, 0])
    assert request.model_spec.name == "toy"


def test_client_rejects_bad_input(exported):
    _, inputs, _, _, _ = exported
    with pytest.raises(TypeError, match="kspace"):
        rest_request(np.abs(inputs["kspace"]), inputs["mask"], inputs["sensitivities"])
    with pytest.raises(ValueError, match="mask"):
        serving_inputs(inputs["kspace"], np.ones((2, 7)), inputs["sensitivities"])


def test_export_killed_half_way_leaves_no_version(tmp_path):
    """A process killed during export (os._exit while writing warm-up data) leaves no version folder."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {REPO!r})
        from tests.models import zoo_contract
        from tests.models.test_base import ResidualCNN
        import tfmri_zoo.export.serving as serving
        inputs, _ = zoo_contract.toy_problem(batch=1, coils=2, height=16, width=16)
        model = ResidualCNN(filters=2)
        model(inputs)
        serving._write_warmup = lambda *a, **k: os._exit(9)
        serving.export_saved_model(model, {str(tmp_path)!r}, model_name="toy", version=1)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=REPO)
    assert result.returncode == 9, result.stderr.decode()[-2000:]
    assert not os.path.exists(tmp_path / "toy" / "1")


def test_export_error_cleans_up_and_versions_are_immutable(exported, tmp_path, monkeypatch):
    model = exported[0]
    import tfmri_zoo.export.serving as serving

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(serving, "_write_warmup", boom)
    with pytest.raises(RuntimeError):
        export_saved_model(model, str(tmp_path), model_name="toy", version=1)
    assert os.listdir(tmp_path / "toy") == []
    with pytest.raises(ValueError, match="version"):
        export_saved_model(model, exported[3], model_name="toy", version=3)


def test_model_that_estimates_maps_gets_a_signature_without_them(tmp_path):
    from tfmri_zoo import models

    inputs, _ = zoo_contract.toy_problem(batch=1, coils=4, height=32, width=32)
    model = models.get("varnet", preset="small")
    expected = model({"kspace": inputs["kspace"], "mask": inputs["mask"]}).numpy()
    path = export_saved_model(model, str(tmp_path), model_name="varnet", version=1, warmup=False)
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "complex", "estimate_sensitivities"}
    request = serving_inputs(inputs["kspace"], inputs["mask"][:, 0, 0], inputs["sensitivities"])
    out = loaded.signatures["estimate_sensitivities"](kspace=tf.constant(request["kspace"]),
                                                      mask=tf.constant(request["mask"]))
    image = out["image"].numpy()
    np.testing.assert_allclose(image[..., 0] + 1j * image[..., 1], expected, atol=1e-5 * np.abs(expected).max())
