"""SavedModel export for TF-Serving: float32 real/imag signatures, complex signature, warm-up records, atomic writes.

Layout written by :func:`export_saved_model`::

    <base_dir>/<model_name>/<version>/saved_model.pb, variables/, assets.extra/tf_serving_warmup_requests

Signatures (``B``, ``H``, ``W`` and the coil count ``C`` are dynamic — ``H``, ``W`` static where ``image_shape`` is
given or the model ends in a prior-image ℓ1-wavelet step, whose wavelet levels depend on the size; ``*extra`` = () for
2D models, (T,) for 2D+t):

``serving_default`` (REST-friendly, TF-Serving's JSON has no complex type)
    kspace         float32 ``[B, C, *extra, H, W, 2]``  (real, imag)
    mask           float32 ``[B, *extra, H, W]``        (a 1D line mask is broadcast over rows by the client)
    sensitivities  float32 ``[B, C, *extra, H, W, 2]``  (``*extra`` axes may be 1)
    → image        float32 ``[B, *extra, H, W, 2]``,  magnitude float32 ``[B, *extra, H, W]``
    (a model that returns a dict, e.g. ``recon_seg``, adds its other outputs: ``segmentation`` float32
    ``[B, H, W, classes]``)
``complex`` (for gRPC users)
    the same with complex64 ``kspace``/``sensitivities`` and a complex64 ``image``.
``estimate_sensitivities`` (only for models that estimate their own coil maps, e.g. E2E-VarNet)
    ``kspace`` and ``mask`` as in ``serving_default``, no ``sensitivities``; the same outputs. Such a model's
    ``serving_default`` and ``complex`` signatures keep the ``sensitivities`` input (one client API for the zoo) but
    do not use it; :func:`export_saved_model` warns about it.

Non-Cartesian models (``operator="nufft"``, :mod:`tfmri_zoo.models.base`) get the same two signatures with the
trajectory in place of the mask (``M`` and ``B`` dynamic; ``H``, ``W`` static, the NUFFT grid of the exported model):

``serving_default``
    kspace         float32 ``[B, C, M, 2]``      (real, imag)
    trajectory     float32 ``[B, M, 2]``         radians, ``[-π, π)`` per axis
    density        float32 ``[B, M]``            density compensation weights (send ones for none)
    sensitivities  float32 ``[B, C, H, W, 2]``
    (2D+t models such as CINENet: ``kspace [B, C, T, M, 2]``, ``trajectory [B, T, M, 2]``, ``density [B, T, M]``,
    ``sensitivities [B, C, 1, H, W, 2]`` — one trajectory per frame)
``complex``
    the same with complex64 ``kspace``/``sensitivities``.

Bad requests are refused by every signature, also with ``jit_compile=True``: NaN/Inf in ``kspace`` or
``sensitivities``, a mask that is all zero for an example, or shapes that do not fit each other give
``tf.errors.InvalidArgumentError`` naming the argument (HTTP 400 from TF-Serving's REST API), never a NaN image.

Scale normalisation is inside every zoo model, so raw scanner data of any scale can be sent.
"""
import os
import shutil
import tempfile
import time

import warnings

import tensorflow as tf

from tfmri_zoo import validation

_WARMUP_FILE = "tf_serving_warmup_requests"


def _layout(model):
    extra = int(getattr(model, "extra_dims", 0))
    spatial = int(getattr(model, "spatial_rank", 2))
    return extra, spatial


def _to_complex(x):
    return tf.complex(x[..., 0], x[..., 1])


def _to_real(x):
    return tf.stack([tf.math.real(x), tf.math.imag(x)], axis=-1)


def _outputs(result, real):
    """The signature's outputs of a model's result (an image, or a dict with ``"image"`` and further outputs)."""
    extra = {}
    if isinstance(result, dict):
        extra = {key: value for key, value in result.items() if key != "image"}
        result = result["image"]
    return {"image": _to_real(result) if real else result, "magnitude": tf.abs(result), **extra}


def check_serving_inputs(kspace, mask, sensitivities, spatial_rank):
    """The value and run-time shape checks of every signature, outside any XLA cluster (XLA drops ``Assert`` ops).

    Args:
      kspace: complex ``[B, C, *extra, *spatial]``.
      mask: float32 ``[B, 1, *extra, *spatial]`` (the signature's mask with the coil axis added).
      sensitivities: complex, kspace's layout, or ``None``.

    Returns:
      ``(kspace, mask, sensitivities)`` that depend on the checks: a bad request fails with
      ``tf.errors.InvalidArgumentError`` naming ``kspace``, ``mask`` or ``sensitivities`` (what a TF-Serving client
      receives), never with a NaN image.
    """
    kspace = validation.check_finite(kspace, "kspace")
    mask = validation.check_mask(validation.check_shapes_compatible(mask, kspace, "mask", "kspace"), "mask")
    if sensitivities is not None:
        spatial = tuple(range(-spatial_rank, 0))
        sensitivities = validation.check_shapes_compatible(sensitivities, kspace, "sensitivities", "kspace",
                                                           equal_axes=(1,) + spatial)
        sensitivities = validation.check_finite(sensitivities, "sensitivities")
    return kspace, mask, sensitivities


class ServingModule(tf.Module):
    """Wraps a zoo model (called as ``model({"kspace", "mask", "sensitivities"})``) with serving signatures.

    Every signature checks its inputs (:func:`check_serving_inputs`) before the model runs; with ``jit_compile`` the
    model call is an XLA-compiled function nested inside the uncompiled signature, so the checks stay.
    ``image_shape``: the static spatial size of the Cartesian signatures (:func:`signature_image_shape`).
    """

    def __init__(self, model, jit_compile=False, image_shape=None):
        super().__init__(name="tfmri_zoo_serving")
        self.model = model
        if getattr(model, "operator", "cartesian") == "nufft":
            self._noncartesian_signatures(model, jit_compile)
            return
        extra, spatial = _layout(model)
        dims = extra + spatial
        self._data_rank = 2 + dims  # [B, C, *extra, *spatial]
        sizes = [None] * extra + list(signature_image_shape(model, image_shape) or [None] * spatial)
        real_k = tf.TensorSpec([None, None, *sizes, 2], tf.float32, name="kspace")
        real_s = tf.TensorSpec([None, None, *sizes, 2], tf.float32, name="sensitivities")
        cplx_k = tf.TensorSpec([None, None, *sizes], tf.complex64, name="kspace")
        cplx_s = tf.TensorSpec([None, None, *sizes], tf.complex64, name="sensitivities")
        mask = tf.TensorSpec([None, *sizes], tf.float32, name="mask")

        def call_model(kspace, mask, sensitivities=None):
            inputs = {"kspace": kspace, "mask": mask}
            if sensitivities is not None:
                inputs["sensitivities"] = sensitivities
            return self.model(inputs, training=False)

        model_fn = tf.function(call_model, jit_compile=True) if jit_compile else call_model

        def run(kspace, mask, sensitivities):
            kspace, mask, sensitivities = check_serving_inputs(kspace, tf.expand_dims(mask, 1), sensitivities,
                                                               spatial)
            if sensitivities is None:
                return model_fn(kspace, mask)
            return model_fn(kspace, mask, sensitivities)

        def serve_real(kspace, mask, sensitivities):
            return _outputs(run(_to_complex(kspace), mask, _to_complex(sensitivities)), real=True)

        def serve_complex(kspace, mask, sensitivities):
            return _outputs(run(kspace, mask, sensitivities), real=False)

        def serve_without_maps(kspace, mask):
            return _outputs(run(_to_complex(kspace), mask, None), real=True)

        self.serve_real = tf.function(serve_real, input_signature=[real_k, mask, real_s])
        if getattr(model, "estimate_sensitivities", False):
            # Only then: a traced function is saved with the module, and other models need their maps.
            self.serve_without_maps = tf.function(serve_without_maps, input_signature=[real_k, mask])
        self.serve_complex = tf.function(serve_complex, input_signature=[cplx_k, mask, cplx_s])

    def _noncartesian_signatures(self, model, jit_compile):
        shapes = model.input_signature()
        if not shapes:
            raise ValueError("model: call the model once on example inputs before exporting (the NUFFT grid size "
                             "comes from the sensitivities' static H, W).")
        extra = [None] * getattr(model, "extra_dims", 0)               # e.g. the frame axis T of 2D+t models
        spatial = list(shapes["sensitivities"].shape[2 + len(extra):])
        real_k = tf.TensorSpec([None, None, *extra, None, 2], tf.float32, name="kspace")
        cplx_k = tf.TensorSpec([None, None, *extra, None], tf.complex64, name="kspace")
        real_s = tf.TensorSpec([None, None, *extra, *spatial, 2], tf.float32, name="sensitivities")
        cplx_s = tf.TensorSpec([None, None, *extra, *spatial], tf.complex64, name="sensitivities")
        trajectory = tf.TensorSpec([None, *extra, None, len(spatial)], tf.float32, name="trajectory")
        density = tf.TensorSpec([None, *extra, None], tf.float32, name="density")

        def call_model(kspace, trajectory, density, sensitivities):
            return self.model({"kspace": kspace, "trajectory": trajectory, "density": density,
                               "sensitivities": sensitivities}, training=False)

        model_fn = tf.function(call_model, jit_compile=True) if jit_compile else call_model

        def run(kspace, trajectory, density, sensitivities):
            # value checks outside any XLA cluster (XLA drops Assert ops); the model repeats them, cheaply
            kspace = validation.check_finite(kspace, "kspace")
            trajectory = validation.check_trajectory(trajectory)
            density = validation.check_finite(density, "density")
            sensitivities = validation.check_finite(sensitivities, "sensitivities")
            return model_fn(kspace, trajectory, density, sensitivities)

        def serve_real(kspace, trajectory, density, sensitivities):
            return _outputs(run(_to_complex(kspace), trajectory, density, _to_complex(sensitivities)), real=True)

        def serve_complex(kspace, trajectory, density, sensitivities):
            return _outputs(run(kspace, trajectory, density, sensitivities), real=False)

        self.serve_real = tf.function(serve_real, input_signature=[real_k, trajectory, density, real_s])
        self.serve_complex = tf.function(serve_complex, input_signature=[cplx_k, trajectory, density, cplx_s])

    def signatures(self):
        signatures = {"serving_default": self.serve_real.get_concrete_function(),
                      "complex": self.serve_complex.get_concrete_function()}
        if hasattr(self, "serve_without_maps"):
            signatures["estimate_sensitivities"] = self.serve_without_maps.get_concrete_function()
        return signatures


def signature_image_shape(model, image_shape=None):
    """The static spatial size of a model's Cartesian signatures: ``image_shape`` (Python ints) when given, else — for
    a model that ends in a prior-image ℓ1-wavelet step (``prior_l1``), whose wavelet levels depend on the size — the
    spatial size of its first call; ``None`` (dynamic) otherwise.

    Raises:
      ValueError: an ``image_shape`` that is not one positive int per spatial axis, or a prior-ℓ1 model whose size
        is unknown.
    """
    spatial = _layout(model)[1]
    if image_shape is not None:
        if (not isinstance(image_shape, (list, tuple)) or len(image_shape) != spatial
                or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in image_shape)):
            raise ValueError(f"image_shape: expected {spatial} positive ints (the image size), got {image_shape!r}.")
        return tuple(image_shape)
    step = getattr(model, "prior_l1_step", None)
    if step is None or step.table is None:
        return None
    shapes = model.input_signature()
    sizes = None if not shapes else tuple(shapes["kspace"].shape[-spatial:])
    if sizes is None or None in sizes:
        raise ValueError("image_shape: a model with a prior-image ℓ1 step serves one image size (its wavelet levels "
                         "depend on it); give image_shape=(H, W).")
    return sizes


def example_request(model, batch=1, coils=None, shape=None):
    """Float32 numpy inputs of ``serving_default`` built from the model's first-call shapes (used for warm-up)."""
    import numpy as np

    shapes = model.input_signature() if hasattr(model, "input_signature") else None
    if not shapes:
        raise ValueError("model: call the model once on example inputs before exporting (shapes are unknown).")
    kshape = [d for d in shapes["kspace"].shape]
    kshape = [batch] + [1 if d is None else d for d in kshape[1:]]
    if coils is not None:
        kshape[1] = coils
    if shape is not None:
        kshape[-len(shape):] = list(shape)
    rng = np.random.default_rng(0)
    k = rng.standard_normal(kshape + [2]).astype(np.float32)
    if "trajectory" in shapes:                     # a non-Cartesian model: kshape is [B, C, *extra, M]
        sshape = [batch, kshape[1]] + [1 if d is None else d for d in shapes["sensitivities"].shape[2:]]
        points = kshape[:1] + kshape[2:]           # [B, *extra, M]
        ndim = shapes["trajectory"].shape[-1]
        return {"kspace": k,
                "trajectory": rng.uniform(-np.pi, np.pi, points + [ndim]).astype(np.float32),
                "density": np.ones(points, np.float32),
                "sensitivities": rng.standard_normal(sshape + [2]).astype(np.float32)}
    s = rng.standard_normal(kshape + [2]).astype(np.float32)
    m = np.ones([batch] + kshape[2:], np.float32)
    return {"kspace": k, "mask": m, "sensitivities": s}


def _write_warmup(path, inputs, model_name, num_records=1):
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name,
                                                                         signature_name="serving_default"))
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(num_records):
            writer.write(log.SerializeToString())


def export_saved_model(model, base_dir, model_name=None, version=None, warmup=True, jit_compile=False,
                       image_shape=None):
    """Exports ``model`` as a TF-Serving SavedModel under ``<base_dir>/<model_name>/<version>/``, atomically.

    The SavedModel is written to a temporary folder beside the target and renamed into place only when complete, so
    an interrupted export leaves no version folder behind (TF-Serving would otherwise load a half-written one).

    Args:
      model: a zoo ``ReconModel`` that has been called once (its input shapes define the warm-up request).
      base_dir: the TF-Serving base folder.
      model_name: the served name (default: the model's registry name or class name, lower case).
      version: positive int (default: seconds since the epoch, as TF-Serving versions are ordered integers).
      warmup: write ``assets.extra/tf_serving_warmup_requests`` (needs ``tensorflow-serving-api``).
      jit_compile: compile the signatures with XLA.
      image_shape: ``None``, or the static spatial size ``(H, W)`` of the Cartesian signatures (default: dynamic;
        for a model with a prior-image ℓ1 step, the size of its first call — :func:`signature_image_shape`).

    Returns:
      the path of the version folder.
    """
    model_name = model_name or getattr(model, "registry_name", None) or type(model).__name__.lower()
    if not hasattr(model, "input_signature"):
        raise TypeError(f"model: the serving signatures take k-space, a mask and coil maps (a zoo ReconModel); "
                        f"{type(model).__name__} has other inputs — export it with Keras' model.export(path).")
    if getattr(model, "estimate_sensitivities", False):
        warnings.warn(f"{model_name}: estimates its own coil maps, so the 'sensitivities' input of its "
                      "'serving_default' and 'complex' signatures is accepted but not used; clients can call the "
                      "'estimate_sensitivities' signature without maps.", UserWarning, stacklevel=2)
    version = int(time.time()) if version is None else version
    if not isinstance(version, int) or version <= 0:
        raise ValueError(f"version: expected a positive int, got {version!r}.")
    model_dir = os.path.join(base_dir, model_name)
    target = os.path.join(model_dir, str(version))
    if os.path.exists(target):
        raise ValueError(f"version: {target} exists already; TF-Serving versions are immutable.")
    os.makedirs(model_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_dir)
    try:
        module = ServingModule(model, jit_compile=jit_compile, image_shape=image_shape)
        tf.saved_model.save(module, staging, signatures=module.signatures())
        if warmup:
            os.makedirs(os.path.join(staging, "assets.extra"), exist_ok=True)
            request = example_request(model, shape=signature_image_shape(model, image_shape))
            _write_warmup(os.path.join(staging, "assets.extra", _WARMUP_FILE), request, model_name)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def write_models_config(base_dir, model_names, container_base="/models"):
    """Writes ``<base_dir>/models.config`` (TF-Serving ``--model_config_file``) serving each of ``model_names``
    from ``<container_base>/<name>``. Returns its path."""
    entries = "".join(f"  config {{\n    name: '{name}'\n    base_path: '{container_base}/{name}'\n"
                      f"    model_platform: 'tensorflow'\n  }}\n" for name in model_names)
    path = os.path.join(base_dir, "models.config")
    with open(path + ".tmp", "w") as f:
        f.write("model_config_list {\n" + entries + "}\n")
    os.replace(path + ".tmp", path)
    return path


def graph_op_types(saved_model_dir):
    """The set of op types in every function and graph of a SavedModel (to check for PyFunc, which TF-Serving
    cannot run)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for meta in proto.meta_graphs:
        ops.update(node.op for node in meta.graph_def.node)
        for function in meta.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops
