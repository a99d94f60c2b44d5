"""Clients for a TF-Serving endpoint of an exported zoo model: REST (JSON, columnar ``inputs``) and gRPC.

Both build requests for the ``serving_default`` signature (see :mod:`tfmri_zoo.export.serving`) from numpy arrays:

  kspace         complex ``[B, C, *extra, H, W]``
  mask           float ``[B, *extra, H, W]``, or a line mask ``[B, W]`` / ``[W]`` broadcast over rows and batch
  sensitivities  complex ``[B, C, *extra, H, W]`` (ones ``[B, 1, ...]`` for single-coil data)

and decode responses into a complex64 image ``[B, *extra, H, W]``.
"""
import json

import numpy as np


def _real_view(x, name):
    x = np.asarray(x)
    if not np.iscomplexobj(x):
        raise TypeError(f"{name}: expected a complex array, got {x.dtype}.")
    return np.stack([x.real, x.imag], axis=-1).astype(np.float32)


def serving_inputs(kspace, mask, sensitivities):
    """The float32 arrays of the ``serving_default`` signature: ``{"kspace", "mask", "sensitivities"}``."""
    kspace = np.asarray(kspace)
    real_kspace = _real_view(kspace, "kspace")
    if kspace.ndim < 4:
        raise ValueError(f"kspace: expected [B, C, (T,) H, W], got shape {kspace.shape}.")
    image_shape = (kspace.shape[0],) + kspace.shape[2:]
    mask = np.asarray(mask, np.float32)
    if mask.ndim == 1 or mask.ndim == 2 and mask.shape == (kspace.shape[0], kspace.shape[-1]):
        mask = mask.reshape((-1,) + (1,) * (len(image_shape) - 2) + (kspace.shape[-1],))
    try:
        mask = np.broadcast_to(mask, image_shape).astype(np.float32)
    except ValueError:
        raise ValueError(f"mask: shape {mask.shape} does not broadcast to {image_shape} [B, (T,) H, W].") from None
    sensitivities = np.asarray(sensitivities)
    if sensitivities.ndim != kspace.ndim:
        raise ValueError(f"sensitivities: expected rank {kspace.ndim} like kspace, got shape {sensitivities.shape}.")
    return {"kspace": real_kspace, "mask": mask,
            "sensitivities": _real_view(sensitivities, "sensitivities")}


def rest_request(kspace, mask, sensitivities, signature_name="serving_default"):
    """JSON body for ``POST /v1/models/<name>:predict`` in TF-Serving's columnar ("inputs") format."""
    inputs = serving_inputs(kspace, mask, sensitivities)
    return json.dumps({"signature_name": signature_name, "inputs": {k: v.tolist() for k, v in inputs.items()}})


def decode_rest_response(body):
    """Complex64 image ``[B, *extra, H, W]`` from a ``:predict`` JSON response (``outputs`` with ``image``)."""
    outputs = json.loads(body)["outputs"] if isinstance(body, (str, bytes)) else body["outputs"]
    image = np.asarray(outputs["image"], np.float32)
    return (image[..., 0] + 1j * image[..., 1]).astype(np.complex64)


def grpc_request(kspace, mask, sensitivities, model_name, signature_name="serving_default", version=None):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` (needs the ``[serving]`` extra)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in serving_inputs(kspace, mask, sensitivities).items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def decode_grpc_response(response):
    """Complex64 image from a ``PredictResponse``."""
    import tensorflow as tf

    image = tf.make_ndarray(response.outputs["image"])
    return (image[..., 0] + 1j * image[..., 1]).astype(np.complex64)


def predict_rest(url, kspace, mask, sensitivities, timeout=60):
    """POSTs to ``url`` (e.g. ``http://localhost:8501/v1/models/modl:predict``); returns the complex image."""
    import urllib.request

    data = rest_request(kspace, mask, sensitivities).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return decode_rest_response(response.read())


def predict_grpc(target, kspace, mask, sensitivities, model_name, timeout=60):
    """Calls ``PredictionService.Predict`` at ``target`` (e.g. ``localhost:8500``); returns the complex image."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(grpc_request(kspace, mask, sensitivities, model_name), timeout)
    return decode_grpc_response(response)
