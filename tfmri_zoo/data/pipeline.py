"""tf.data input pipeline: fastMRI-schema files → ``(inputs, target)`` batches for the zoo's models.

Stages (``make_dataset``):

1. **Index** — :class:`tfmri_zoo.data.fastmri.SliceDataset` opens every file once; unreadable files are skipped and
   counted (``dataset.skipped`` / ``dataset.num_skipped`` on the returned dataset), never a crash mid-epoch.
2. **Shard** for ``tf.distribute`` — files are split ``files[shard_index::num_shards]`` (or by a
   ``tf.distribute.InputContext``); otherwise the auto-shard policy is ``DATA`` so
   ``strategy.experimental_distribute_dataset`` works.
3. **File-level shuffle** with ``seed``, then **interleaved reads**: one generator per file reads one slice at a time
   (``numpy.fromfile`` on the contiguous k-space/maps records, which releases the GIL and bypasses h5py's global
   lock; h5py slicing for chunked files), ``num_parallel_reads`` files in flight; then a slice shuffle buffer.
4. **Mask per example** from ``mask_func(shape, offset=None, seed=...)`` → ``(mask, num_low_frequencies)``
   (:mod:`tfmri_zoo.physics.sampling`). Training: seed ``(seed, file, slice, epoch)``: reproducible, new each
   epoch. Validation (``validation=True``): fastMRI's per-volume seed ``tuple(map(ord, file_name))`` — every slice of
   a volume gets the same mask, every run. Files storing a ``mask`` (fastMRI test/challenge data, k-space already
   undersampled) use it instead. Without a crop, columns outside the header's ``[padding_left, padding_right)`` are
   masked out (fastMRI zero-pads them).
5. **Transform** (TF graph, parallel): coil images ``x = ifft2c(k)``; optional centre ``crop`` in image space
   (e.g. ``(320, 320)`` removes the knee readout oversampling; k-space is recomputed from the cropped coil images,
   so k-space, maps and target stay consistent); target; masked k-space; normalisation.
6. **Batch** equal shapes (``group_by_window`` on the shape when files differ), ``prefetch(AUTOTUNE)``.

Elements (2D data; series files add a ``T`` axis after the coil axis everywhere):

  ``inputs["kspace"]``         complex64 ``[B, C, H, W]`` undersampled, normalised k-space (single-coil: ``C = 1``)
  ``inputs["mask"]``           float32 ``[B, 1, 1, W]``
  ``inputs["sensitivities"]``  complex64 ``[B, C, H, W]`` (absent when ``sensitivities=None``)
  ``target``                   complex64 ``[B, H, W]``: SENSE combination ``Σ conj(S) x / Σ|S|²`` of the fully
                               sampled coil images when maps are used; float32 ``[B, H, W]`` root-sum-of-squares
                               otherwise (the fastMRI target, at the pipeline's resolution)

Reference (``reference``): ``"measured"`` (default) builds the target from the fully sampled *measured* k-space, noise
included, as fastMRI does. ``"noise_free"`` builds it, by the same combination with the same maps, crop and scale,
from the simulation's noise-free coil images ``S_true · image`` — for simulated files that store ``image`` and
``sensitivities_true`` (brain data) or ``image`` and their true ``sensitivities`` (phantom data). At high noise a
reconstruction that keeps the noise scores well against the measured reference; the noise-free one says how close it
is to the object.

Normalisation (``normalize``), one scale ``s`` per slice dividing k-space and target (maps are unit-norm, unscaled):

  ``"zero_filled_max"`` (default)  ``s = max |RSS(ifft2c(masked k-space))|``: available at inference, so a served
                                   model sees the same scaling; targets end up near ``[0, 1]``
  ``"volume_max"``                 ``s = attrs["max"]`` (fastMRI's per-volume maximum of the stored target)
  ``None``                         raw k-space (fastMRI's VarNet convention)

``return_info=True`` adds a third element with ``scale`` (float32 ``[B]``), ``slice`` and ``num_low_frequencies``
(int32 ``[B]``) and ``fname`` (string ``[B]``).
"""
import hashlib
import logging
import os
import threading

import numpy as np
import tensorflow as tf

from tfmri_zoo.data.fastmri import SliceDataset, read_slice
from tfmri_zoo.data.transforms import center_crop
from tfmri_zoo.physics.coils import rss, sense_combine
from tfmri_zoo.physics.fft import fft2c, ifft2c

NORMALIZATIONS = (None, "zero_filled_max", "volume_max")
SENSITIVITY_SOURCES = ("auto", None, "stored", "espirit")
REFERENCES = ("measured", "noise_free")
_LOG = logging.getLogger(__name__)


def validation_seed(fname):
    """fastMRI's per-volume mask seed: the code points of the file's base name."""
    return tuple(map(ord, os.path.basename(fname)))


class _SliceSource:
    """Reads raw slices and samples masks for one pipeline; called from tf.data generator threads."""

    def __init__(self, slices, mask_func, seed, validation, crop, sensitivities, cache_dir, espirit_kwargs,
                 reference="measured"):
        self.slices = slices
        self.reference = reference
        self.mask_func = mask_func
        self.seed = seed
        self.validation = validation
        self.crop = crop
        self.sensitivities = sensitivities
        self.cache_dir = cache_dir
        self.espirit_kwargs = dict(espirit_kwargs or {})
        self.epochs = {}
        self.cache = {}
        self.lock = threading.Lock()

    def mask(self, item, info, file_number, shape):
        width = shape[-1]
        if "mask" in item:
            mask = item["mask"]
            if mask.shape[-1] != width:
                raise ValueError(f"{info['path']}: stored mask has {mask.shape[-1]} columns, expected {width} "
                                 f"(a crop that changes the width cannot be used with pre-undersampled files).")
            return mask.astype(np.float32), int(item["attrs"].get("num_low_frequency", 0))
        if self.mask_func is None:
            return np.ones(width, np.float32), width
        if self.validation:
            seed = validation_seed(info["path"])
        else:
            seed = (self.seed, file_number, item["metadata"]["slice"], self.epochs[file_number])
        with self.lock:  # mask functions own a RandomState: one caller at a time
            mask, num_low = self.mask_func(tuple(shape), offset=None, seed=seed)
        mask = np.asarray(mask, np.float32).reshape(-1)
        if mask.shape[0] != width:
            raise ValueError(f"mask_func: returned a mask with {mask.shape[0]} columns for k-space shape {shape}.")
        meta = item["metadata"]
        if self.crop is None and (meta["padding_left"] > 0 or meta["padding_right"] < width):
            mask = mask.copy()
            mask[:max(meta["padding_left"], 0)] = 0
            mask[max(meta["padding_right"], 0):] = 0
        return mask, int(num_low)

    def espirit_maps(self, item, info):
        key = hashlib.sha1(repr((info["path"], os.path.getmtime(info["path"]), item["metadata"]["slice"],
                                 sorted(self.espirit_kwargs.items()))).encode()).hexdigest()
        if key in self.cache:
            return self.cache[key]
        path = None if self.cache_dir is None else os.path.join(self.cache_dir, f"espirit_{key}.npy")
        if path is not None and os.path.exists(path):
            maps = np.load(path)
        else:
            from tfmri_zoo.physics.coils import espirit
            kspace = item["kspace"]
            if kspace.ndim != 3:
                raise ValueError(f"{info['path']}: sensitivities='espirit' supports 2D k-space [C, H, W] only.")
            maps = espirit(kspace[np.newaxis], **self.espirit_kwargs)[0].numpy().astype(np.complex64)
            if path is not None:
                os.makedirs(self.cache_dir, exist_ok=True)
                np.save(path, maps)
        self.cache[key] = maps
        return maps

    def __call__(self, file_number):
        """Generator of raw ``(kspace, maps, mask, volume_max, slice, num_low_frequencies, fname, clean)`` of one file
        (``clean``: the noise-free coil images ``[C, H, W]`` with ``reference="noise_free"``, else empty)."""
        file_number = int(file_number)
        info = self.slices.files[file_number]
        with self.lock:
            self.epochs[file_number] = self.epochs.get(file_number, -1) + 1
        shape = info["kspace_shape"]
        out_shape = shape if self.crop is None else shape[:-2] + tuple(self.crop)
        scale = np.float32(info["attrs"].get("max", 0.0))
        fname = os.path.basename(info["path"])
        for s in range(info["num_slices"]):
            item = read_slice(info["path"], s, info, extras=self.reference == "noise_free")
            mask, num_low = self.mask(item, info, file_number, out_shape)
            source = self.sensitivities
            if source == "auto":
                source = "stored" if "sensitivities" in info["datasets"] else "espirit"
            if source == "stored":
                maps = item["sensitivities"]
            elif source == "espirit":
                maps = self.espirit_maps(item, info)
            else:
                maps = np.zeros((0,), np.complex64)
            yield item["kspace"], maps, mask, scale, np.int32(s), np.int32(num_low), fname, self.clean(item)

    def clean(self, item):
        if self.reference != "noise_free":
            return np.zeros((0,), np.complex64)
        extras = item["extras"]
        maps = extras.get("sensitivities_true", item.get("sensitivities"))
        return (np.asarray(maps, np.complex64) * np.asarray(extras["image"], np.complex64)[np.newaxis])


def _scale(kind, masked_kspace, volume_max):
    if kind is None:
        return tf.constant(1.0, tf.float32)
    if kind == "volume_max":
        tf.debugging.assert_positive(volume_max, message="normalize='volume_max' needs a positive attrs['max']")
        return volume_max
    # max of the zero-filled RSS image, without the square roots of every voxel
    coil_images = ifft2c(masked_kspace)
    energy = tf.reduce_sum(tf.square(tf.math.real(coil_images)) + tf.square(tf.math.imag(coil_images)), axis=0)
    peak = tf.sqrt(tf.reduce_max(energy))
    return tf.where(peak > 0, peak, tf.ones_like(peak))


def _transform(crop, normalize, use_maps, return_info, noise_free=False):
    def transform(kspace, maps, mask, volume_max, slice_index, num_low, fname, clean):
        coil_images = ifft2c(kspace)
        if crop is not None:
            coil_images = center_crop(coil_images, crop)
            kspace = fft2c(coil_images)
            if use_maps:
                maps = center_crop(maps, crop)
            if noise_free:
                clean = center_crop(clean, crop)
        reference_images = clean if noise_free else coil_images
        spatial_ones = [1] * (kspace.shape.rank - 1)
        mask = tf.reshape(mask, spatial_ones + [-1])
        masked = kspace * tf.cast(mask, kspace.dtype)
        if use_maps:
            target = sense_combine(reference_images[tf.newaxis], maps[tf.newaxis])[0]
        else:
            target = rss(reference_images, axis=0)
        scale = _scale(normalize, masked, volume_max)
        inputs = {"kspace": masked / tf.cast(scale, masked.dtype), "mask": mask}
        if use_maps:
            inputs["sensitivities"] = maps
        target = target / tf.cast(scale, target.dtype)
        if return_info:
            return inputs, target, {"scale": scale, "slice": slice_index, "num_low_frequencies": num_low,
                                    "fname": fname}
        return inputs, target
    return transform


def _shape_key(inputs, *rest):
    shape = tf.cast(tf.shape(inputs["kspace"]), tf.int64)
    key = tf.constant(0, tf.int64)
    for i in range(inputs["kspace"].shape.rank):
        key = key * 4099 + shape[i]
    return key


def make_dataset(files, mask_func=None, batch_size=1, shuffle=False, seed=0, crop=None,
                 normalize="zero_filled_max", sensitivities="auto", validation=False, cache_dir=None,
                 espirit_kwargs=None, num_parallel_reads=4, shuffle_buffer=32, drop_remainder=False,
                 num_shards=1, shard_index=0, input_context=None, return_info=False, reference="measured"):
    """Builds the ``tf.data.Dataset`` of ``(inputs, target)`` described in the module docstring.

    Args:
      files: list of fastMRI-schema ``.h5`` paths, or a directory holding them.
      mask_func: callable ``mask_func(shape, offset=None, seed=None) -> (mask, num_low_frequencies)``, e.g.
        ``tfmri_zoo.physics.sampling.RandomMaskFunc([0.08], [4])``; ``None`` keeps all lines (mask of ones).
      batch_size: examples per batch.
      shuffle: shuffle files (seeded) and slices (buffer of ``shuffle_buffer``).
      seed: seed of the shuffles and of the training masks.
      crop: ``(h, w)`` centre crop in image space, or ``None``.
      normalize: ``"zero_filled_max"``, ``"volume_max"`` or ``None`` (see module docstring).
      sensitivities: ``"auto"`` (default: per file, the stored maps when it has a ``sensitivities`` dataset, e.g.
        the synthetic data, else ESPIRiT — real fastMRI files store none; which files get which is logged once per
        call by the ``tfmri_zoo.data.pipeline`` logger), ``"stored"`` (the file's ``sensitivities`` dataset; an error
        for files without one), ``"espirit"`` (computed from each slice's k-space once, cached in memory and in
        ``cache_dir`` if given) or ``None`` (no maps; RSS targets).
      validation: fastMRI per-volume mask seeding (same mask for every slice of a volume, every epoch).
      cache_dir: directory for cached ESPIRiT maps.
      espirit_kwargs: keyword arguments of :func:`tfmri_zoo.physics.coils.espirit`.
      num_parallel_reads: files read concurrently (interleave cycle length).
      shuffle_buffer: slice shuffle buffer size.
      drop_remainder: drop the last incomplete batch (static batch dimension).
      num_shards, shard_index: keep files ``files[shard_index::num_shards]``.
      input_context: a ``tf.distribute.InputContext``; overrides ``num_shards``/``shard_index``.
      return_info: yield ``(inputs, target, info)`` (see module docstring).
      reference: ``"measured"`` or ``"noise_free"`` target (see module docstring; the latter needs files that store
        the noise-free ``image`` and the true maps).

    Returns:
      ``tf.data.Dataset``; its ``skipped`` attribute lists ``(path, reason)`` of unreadable files and
      ``num_skipped`` counts them; ``slices`` is the underlying :class:`SliceDataset`.

    Raises:
      ValueError: no readable file, unknown option, or ``sensitivities="stored"`` with files that store none.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize: expected one of {NORMALIZATIONS}, got {normalize!r}.")
    if sensitivities not in SENSITIVITY_SOURCES:
        raise ValueError(f"sensitivities: expected one of {SENSITIVITY_SOURCES}, got {sensitivities!r}.")
    if reference not in REFERENCES:
        raise ValueError(f"reference: expected one of {REFERENCES}, got {reference!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}.")
    if crop is not None:
        crop = (int(crop[0]), int(crop[1]))
    slices = SliceDataset(files)
    if input_context is not None:
        num_shards, shard_index = input_context.num_input_pipelines, input_context.input_pipeline_id
    file_numbers = list(range(len(slices.files)))[shard_index::num_shards]
    if not file_numbers:
        raise ValueError(f"files: no readable file for shard {shard_index}/{num_shards} "
                         f"({len(slices.files)} readable, {slices.num_skipped} skipped: {slices.skipped}).")
    infos = [slices.files[i] for i in file_numbers]
    if sensitivities == "stored":
        missing = [info["path"] for info in infos if "sensitivities" not in info["datasets"]]
        if missing:
            raise ValueError(f"sensitivities: 'stored' but these files store no 'sensitivities' dataset: "
                             f"{missing[:3]}{' ...' if len(missing) > 3 else ''}; use 'espirit' or None.")
    if sensitivities == "auto":
        without = [info["path"] for info in infos if "sensitivities" not in info["datasets"]]
        if without:
            _LOG.warning("make_dataset: sensitivities='auto': %d of %d files store no coil maps (e.g. %s); their maps "
                         "are estimated by ESPIRiT from each slice's k-space%s.", len(without), len(infos),
                         os.path.basename(without[0]),
                         f", cached in {cache_dir}" if cache_dir else " (pass cache_dir= to keep them across runs)")
        else:
            _LOG.info("make_dataset: sensitivities='auto': all %d files store coil maps; using them.", len(infos))
    if reference == "noise_free":
        missing = [info["path"] for info in infos if "image" not in info["datasets"]
                   or not {"sensitivities_true", "sensitivities"} & set(info["datasets"])]
        if missing:
            raise ValueError(f"reference: 'noise_free' needs files that store the noise-free 'image' and the true maps "
                             f"('sensitivities_true' or 'sensitivities'); these do not: {missing[:3]}"
                             f"{' ...' if len(missing) > 3 else ''}.")
    shapes = set()
    for info in infos:
        shape = info["kspace_shape"]
        if crop is not None:
            if crop[0] > shape[-2] or crop[1] > shape[-1]:
                raise ValueError(f"crop: {crop} is larger than the k-space {shape[-2:]} of {info['path']}.")
            shape = shape[:-2] + crop
        shapes.add(shape)
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise ValueError(f"files: mix k-space ranks {sorted(ranks)} (2D and series files); use separate datasets.")
    rank = ranks.pop()
    raw_shape = [None] * rank
    if len({info["kspace_shape"] for info in infos}) == 1:
        raw_shape = list(infos[0]["kspace_shape"])
    use_maps = sensitivities is not None
    source = _SliceSource(slices, mask_func, seed, validation, crop, sensitivities, cache_dir, espirit_kwargs,
                          reference)
    signature = (tf.TensorSpec(raw_shape, tf.complex64), tf.TensorSpec(raw_shape if use_maps else [0], tf.complex64),
                 tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32),
                 tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.string),
                 tf.TensorSpec(raw_shape if reference == "noise_free" else [0], tf.complex64))
    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(file_numbers, np.int64))
    if shuffle:
        dataset = dataset.shuffle(len(file_numbers), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        lambda i: tf.data.Dataset.from_generator(source, output_signature=signature, args=(i,)),
        cycle_length=max(1, min(num_parallel_reads, len(file_numbers))), block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_transform(crop, normalize, use_maps, return_info, reference == "noise_free"),
                          num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    if len(shapes) == 1:
        final = list(shapes.pop())
        spatial_ones = [1] * (rank - 1)

        def set_shapes(inputs, *rest):
            inputs["kspace"] = tf.ensure_shape(inputs["kspace"], final)
            inputs["mask"] = tf.ensure_shape(inputs["mask"], spatial_ones + [final[-1]])
            if use_maps:
                inputs["sensitivities"] = tf.ensure_shape(inputs["sensitivities"], final)
            target = tf.ensure_shape(rest[0], final[1:])
            return (inputs, target) + tuple(rest[1:])

        dataset = dataset.map(set_shapes).batch(batch_size, drop_remainder=drop_remainder)
    else:
        dataset = dataset.group_by_window(_shape_key, lambda key, window: window.batch(batch_size, drop_remainder),
                                          window_size=batch_size)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if num_shards > 1 or input_context is not None
        else tf.data.experimental.AutoShardPolicy.DATA)
    dataset = dataset.with_options(options)
    dataset.slices = slices
    dataset.skipped = slices.skipped
    dataset.num_skipped = slices.num_skipped
    return dataset
