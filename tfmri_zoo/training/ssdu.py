"""SSDU: self-supervised learning via data undersampling (Yaman et al. 2020), review Eq. 24.

The acquired sampling set Ω of each example is split into two disjoint sets: Θ, used inside the network (its data
consistency and its input), and Λ, used only by the loss. With ``ρ = |Λ|/|Ω|`` (0.4 by default) the Λ locations
are drawn without replacement from Ω, uniformly or with a Gaussian density centred in k-space; a small centre block
(``centre_size`` entries per non-singleton mask axis) always stays in Θ. The loss
``‖y_Λ − E_Λ x‖₂/‖y_Λ‖₂ + ‖y_Λ − E_Λ x‖₁/‖y_Λ‖₁`` (:class:`tfmri_zoo.training.losses.SSDULoss`) needs no fully
sampled target. At inference the trained network is given all of Ω (the ordinary inputs).

The split is drawn per example inside the tf.data pipeline: :func:`ssdu_dataset` zips the dataset with a seeded
random stream (new splits every epoch, reproducible for a seed) and maps :func:`ssdu_split_example` over it.
Masks may be line masks ``[B, 1, 1, W]`` (lines are split) or 2D masks ``[B, 1, H, W]`` (points are split).
"""
import tensorflow as tf

from tfmri_zoo.training.targets import pack_kspace_target

SELECTIONS = ("uniform", "gaussian")


def _axis_coordinates(shape, axis, rank):
    """Centred integer coordinate along ``axis`` broadcast to rank ``rank``: ``index − size // 2``."""
    size = shape[axis]
    coords = tf.range(size) - size // 2
    return tf.reshape(coords, [-1 if i == axis else 1 for i in range(rank)])


def split_mask(mask, seed, rho=0.4, selection="uniform", centre_size=4, std=0.3):
    """Splits each example's sampling set Ω into disjoint Θ (network) and Λ (loss) with ``|Λ| ≈ ρ |Ω|``.

    Args:
      mask: float32/bool ``[B, 1, ..., W]`` sampling mask Ω (one per example; singleton axes are not split).
      seed: int32/int64 shape-``[2]`` tensor, the stateless random seed.
      rho: fraction of Ω moved to Λ, in ``(0, 1)``.
      selection: ``"uniform"`` or ``"gaussian"`` (density ``exp(−Σ_a (k_a / (std·N_a))² / 2)`` over the
        non-singleton axes, centred on index ``N_a // 2``).
      centre_size: the central ``centre_size`` entries of every non-singleton axis never go to Λ.
      std: width of the Gaussian density as a fraction of each axis length.

    Returns:
      ``(theta, lam)``: float32 masks of ``mask``'s shape, ``theta + lam = Ω``, ``theta · lam = 0``.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"rho: expected a fraction in (0, 1), got {rho}.")
    if selection not in SELECTIONS:
        raise ValueError(f"selection: expected one of {SELECTIONS}, got {selection!r}.")
    mask = tf.convert_to_tensor(mask)
    if mask.dtype.is_complex:
        raise TypeError(f"mask: expected float32 or bool, got {mask.dtype.name}.")
    omega = tf.cast(tf.cast(mask, tf.float32) > 0, tf.float32)
    rank = omega.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"mask: expected [B, 1, ..., W], got shape {mask.shape}.")
    shape = tf.shape(omega)
    centre = tf.ones_like(omega[:1], tf.bool)
    log_density = tf.zeros_like(omega[:1])
    for axis in range(1, rank):
        if omega.shape[axis] == 1:
            continue
        coords = _axis_coordinates(shape, axis, rank)
        centre &= (coords >= -(centre_size // 2)) & (coords < centre_size - centre_size // 2)
        scaled = tf.cast(coords, tf.float32) / (std * tf.cast(shape[axis], tf.float32))
        log_density += -0.5 * tf.square(scaled)
    eligible = (omega > 0) & ~centre
    flat_eligible = tf.reshape(eligible, [shape[0], -1])
    # Gumbel top-k: the k largest of log p + Gumbel noise are a draw without replacement with probabilities ∝ p.
    uniform = tf.random.stateless_uniform(tf.shape(flat_eligible), seed, minval=1e-7, maxval=1.0)
    keys = -tf.math.log(-tf.math.log(uniform))
    if selection == "gaussian":
        keys += tf.reshape(tf.broadcast_to(log_density, shape), [shape[0], -1])
    keys = tf.where(flat_eligible, keys, tf.fill(tf.shape(keys), float("-inf")))
    order = tf.argsort(keys, axis=1, direction="DESCENDING", stable=True)
    ranks = tf.argsort(order, axis=1, stable=True)
    count = tf.reduce_sum(tf.reshape(omega, [shape[0], -1]), axis=1)
    available = tf.reduce_sum(tf.cast(flat_eligible, tf.float32), axis=1)
    k = tf.cast(tf.minimum(tf.round(rho * count), available), tf.int32)
    lam = tf.cast((ranks < k[:, None]) & flat_eligible, tf.float32)
    lam = tf.reshape(lam, shape)
    return omega - lam, lam


def ssdu_split_example(inputs, target, seed, rho=0.4, selection="uniform", centre_size=4, std=0.3,
                       keep_target=False):
    """The pipeline transform: ``(inputs, target) → (inputs with Θ, packed Λ target)``.

    Args:
      inputs: dict with ``kspace`` complex64 ``[B, C, *extra, H, W]``, ``mask`` float32 ``[B, 1, ..., W]`` (Ω) and
        optionally ``sensitivities`` complex64 ``[B, C, ...]``.
      target: the pipeline's image target (ignored unless ``keep_target``; SSDU needs none).
      seed: shape-``[2]`` integer stateless seed.
      rho, selection, centre_size, std: see :func:`split_mask`.
      keep_target: carry a complex image target in the packed target (for monitoring only; the SSDU loss ignores
        it).

    Returns:
      ``(new_inputs, packed)``: ``new_inputs`` has ``kspace = y·Θ`` and ``mask = Θ`` (Λ data is zeroed, so the
      network cannot see it); ``packed`` (:func:`tfmri_zoo.training.targets.pack_kspace_target`) carries
      ``y·Λ``, Λ and the coil maps.
    """
    theta, lam = split_mask(inputs["mask"], seed, rho=rho, selection=selection, centre_size=centre_size, std=std)
    kspace = tf.convert_to_tensor(inputs["kspace"])
    sensitivities = inputs.get("sensitivities")
    new_inputs = dict(inputs)
    new_inputs["kspace"] = kspace * tf.cast(theta, kspace.dtype)
    new_inputs["mask"] = theta
    image = None
    if keep_target and target is not None and tf.as_dtype(target.dtype).is_complex:
        image = target
    packed = pack_kspace_target(kspace * tf.cast(lam, kspace.dtype), lam, sensitivities, image)
    return new_inputs, packed


def ssdu_dataset(dataset, rho=0.4, selection="uniform", centre_size=4, std=0.3, seed=0, keep_target=False,
                 num_parallel_calls=tf.data.AUTOTUNE):
    """Maps :func:`ssdu_split_example` over a dataset of ``(inputs, target)`` with a fresh split per element.

    Seeds come from ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``: every epoch draws new
    splits, and two runs with the same ``seed`` draw the same ones.

    Args:
      dataset: ``tf.data.Dataset`` of ``(inputs, target)`` (e.g. :func:`tfmri_zoo.data.pipeline.make_dataset`;
        batched or not — the split is per example either way, as the mask carries a batch axis).
      rho, selection, centre_size, std, keep_target: see :func:`ssdu_split_example`.
      seed: integer seed of the split stream.
      num_parallel_calls: ``dataset.map`` parallelism (the output is deterministic).

    Returns:
      ``tf.data.Dataset`` of ``(inputs with Θ, packed Λ target)`` for ``model.fit(..., loss=SSDULoss())``.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    zipped = tf.data.Dataset.zip((dataset, seeds))

    def transform(element, pair):
        inputs, target = element[0], element[1]
        return ssdu_split_example(inputs, target, pair, rho=rho, selection=selection, centre_size=centre_size,
                                  std=std, keep_target=keep_target)

    return zipped.map(transform, num_parallel_calls=num_parallel_calls, deterministic=True)
