"""``PriorL1Step``: a learned image as the prior of ℓ1-wavelet compressed sensing, as the last step of a served model.

For the network's image ``z`` it returns the minimiser of

    ½‖y − E x‖² + ½μ‖x − z‖² + λ‖Ψ x‖₁

by :func:`tfmri_zoo.recon.l1_wavelet` (FISTA with cycle spinning, started at ``z``): μ = 0 is the BART-strength
ℓ1-wavelet reconstruction, μ = ∞ the network's image. ``(λ, μ)`` come from a table per acceleration chosen on
validation slices (:func:`tfmri_zoo.training.calibrate_prior_l1`): each example reads the entry whose acceleration is
nearest to its mask's (in ``log R``; μ spans 0 … ∞, so the entries are not interpolated). ``λ`` is relative to the
data the step sees — a zoo model's normalised k-space (``max|Eᴴy| = 1``) — so one table serves data of any scale.
Measured in the README ("The learned image as the ℓ1-wavelet's prior").
"""
import math

import keras
import tensorflow as tf

from tfmri_zoo.physics.sampling import mask_acceleration
from tfmri_zoo.recon.l1_wavelet import l1_wavelet

_EXPECTED = ('{"accelerations": [R1 < R2 < ...], "lam": [λ > 0, or None where μ is None], "weight": [μ ≥ 0, or None '
             'for the network\'s image alone]}')


def check_prior_l1_table(table):
    """Validates a table of :class:`PriorL1Step` and returns it with float entries (``None`` stays ``None``).

    Raises:
      ValueError: not ``{"accelerations", "lam", "weight"}`` lists of one length, accelerations increasing and
        positive, ``λ > 0`` finite and ``μ ≥ 0`` finite per entry, or both ``None`` (the network's image).
    """
    if not isinstance(table, dict) or set(table) != {"accelerations", "lam", "weight"}:
        raise ValueError(f"prior_l1: expected {_EXPECTED}, got {table!r}.")
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)  # noqa: E731
    lists = [table[key] for key in ("accelerations", "lam", "weight")]
    ok = all(isinstance(values, (list, tuple)) for values in lists) and len({len(v) for v in lists}) == 1
    ok = ok and len(lists[0]) > 0 and all(number(r) and r > 0 for r in lists[0])
    ok = ok and list(lists[0]) == sorted(set(lists[0]))
    ok = ok and all((lam is None and weight is None) or (number(lam) and lam > 0 and number(weight) and weight >= 0)
                    for lam, weight in zip(lists[1], lists[2]))
    if not ok:
        raise ValueError(f"prior_l1: expected {_EXPECTED}, got {table!r}.")
    as_float = lambda values: [None if v is None else float(v) for v in values]  # noqa: E731
    return {"accelerations": as_float(lists[0]), "lam": as_float(lists[1]), "weight": as_float(lists[2])}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class PriorL1Step(keras.layers.Layer):
    """The prior-image ℓ1-wavelet step (module docstring) of 2D Cartesian multi-coil data; no weights.

    Args:
      table: ``None`` (the step returns the image as it is), or ``{"accelerations": [R₁ < … < R_K], "lam": [λ per R],
        "weight": [μ per R]}``; ``None`` in both ``lam`` and ``weight`` for μ = ∞ (the network's image).
      iterations: FISTA iterations (100: the ℓ1-wavelet baseline's count in every comparison).

    Call args: ``image`` complex ``[B, H, W]`` (the prior ``z``), ``kspace`` complex ``[B, C, H, W]``, ``mask``
    float32 broadcastable to it, ``sensitivities`` complex ``[B, C, H, W]`` or ``None``.
    Returns complex ``[B, H, W]``.
    """

    def __init__(self, table=None, iterations=100, **kwargs):
        super().__init__(**kwargs)
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"iterations: expected a positive int, got {iterations!r}.")
        self.iterations = iterations
        self.set_table(table)

    def set_table(self, table):
        """Validates and sets the table (``None``: none). A model traced before keeps the old table in that trace:
        rebuild or reload it (the table is in the config)."""
        self.table = None if table is None else check_prior_l1_table(table)

    def entries(self, mask):
        """``(λ, μ, keep)`` of each example's nearest table entry: float32 ``[B]`` each (``keep`` 1 where μ = ∞;
        there λ = 1 and μ = 0 stand in, unused)."""
        table = self.table
        knots = tf.math.log(tf.constant(table["accelerations"], tf.float32))
        distance = tf.abs(tf.math.log(mask_acceleration(mask))[:, None] - knots[None, :])
        index = tf.argmin(distance, axis=-1)
        column = lambda values, fill: tf.gather(tf.constant(  # noqa: E731
            [fill if v is None else v for v in values], tf.float32), index)
        return (column(table["lam"], 1.0), column(table["weight"], 0.0),
                column([float(w is None) for w in table["weight"]], 0.0))

    def call(self, image, kspace, mask, sensitivities=None):
        if self.table is None or all(w is None for w in self.table["weight"]):
            return image
        lam, weight, keep = self.entries(mask)
        # ℓ1 is 1-homogeneous: x(y, z; λ) = λ·x(y/λ, z/λ; 1), which gives each example its own λ.
        shape = [-1, 1, 1]
        factor = tf.cast(tf.reshape(lam, shape), image.dtype)
        solved = factor * l1_wavelet(kspace / factor[..., None], mask, sensitivities, lam=1.0,
                                     max_iter=self.iterations, prior=image / factor, prior_weight=weight)
        return tf.where(tf.reshape(keep, shape) > 0, image, solved)

    def get_config(self):
        return {**super().get_config(), "table": self.table, "iterations": self.iterations}
