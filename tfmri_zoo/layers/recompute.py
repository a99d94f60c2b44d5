"""Memory-efficient unrolled training: recompute each cascade in the backward pass (review Sec. III-D, "Memory").

Back-propagating through ``K`` unrolled cascades normally keeps every intermediate activation of every cascade
until the gradient is taken, so memory grows linearly with ``K``. Wrapping each cascade ``x_{k+1} = step(x_k)`` in
:func:`recompute` (a custom gradient, like ``tf.recompute_grad``) keeps only the cascade inputs ``x_k``; in the
backward pass each cascade is run again from its stored input to get the activations it needs, one cascade at a
time. Values and gradients are unchanged (up to float round-off); compute grows by about one extra forward pass.
Measured (``benchmarks/memory.py``, CPU, TF allocator peak of one step, MoDL 192×192, 8 coils, DnCNN 32×5, CG 10):
12 cascades need 9.4× the step memory of 1 without recompute, 1.06× with it.

How a model uses it: every unrolled zoo model writes its loop as steps and calls
:meth:`tfmri_zoo.models.base.ReconModel.unroll`, which applies :func:`unroll` with the model's ``recompute``
option::

    steps = [lambda x, k, m, s, d=denoiser: dc(d(x, training=training), k, m, s) for denoiser in denoisers]
    return self.unroll(steps, x, kspace, mask, sensitivities)

Caveat: layers with training-time side effects (BatchNorm moving statistics, dropout) run twice per step; moving
averages are then updated twice (harmless for training, slightly faster averaging) and dropout would draw a new
mask in the recomputation (avoid dropout inside recomputed cascades).
"""
import tensorflow as tf


def recompute(step, enabled=True):
    """Wraps ``step(*tensors) → tensor`` so that its activations are recomputed in the backward pass.

    Args:
      step: a function of tensors or nests of tensors (``None`` arguments are passed through as ``None`` — they are
        bound by closure, not recorded), typically one cascade ``(x, kspace, mask, sensitivities) → x`` where ``x`` is a
        complex64 image ``[B, *extra, H, W]``, or a nest (e.g. ADMM's ``(x, u)``) returned as a nest of the same
        structure. Variables it reads (Keras layers) receive gradients; every other tensor that needs a gradient
        (maps estimated by a network, motion fields) must be an argument, not a closure.
      enabled: ``False`` returns ``step`` unchanged (ordinary back-propagation).

    Returns:
      a function with ``step``'s signature, values and gradients.
    """
    if not enabled:
        return step

    def wrapped(*args):
        flat = tf.nest.flatten(args)   # nested arguments (a non-Cartesian sampling dict) are passed as their tensors
        present = [i for i, a in enumerate(flat) if a is not None]
        structure = []

        def on_tensors(*tensors):
            full = list(flat)
            for i, t in zip(present, tensors):
                full[i] = t
            output = step(*tf.nest.pack_sequence_as(args, full))
            structure[:] = [output]
            return tf.nest.flatten(output)

        outputs = _recomputed(on_tensors)(*[flat[i] for i in present])
        return tf.nest.pack_sequence_as(structure[0], outputs)

    return wrapped


def _recomputed(fn):
    """``fn`` (tensors → list of tensors) with a custom gradient that re-runs ``fn`` under a tape in the backward pass.

    Written with ``tf.custom_gradient`` rather than ``tf.recompute_grad``: the latter fails in graph mode on complex
    tensors (TF 2.21), which every cascade of the zoo carries. The forward pass runs inside ``custom_gradient``
    where nothing is recorded, so no activation of ``fn`` outlives it.
    """

    @tf.custom_gradient
    def forward(*tensors):
        outputs = fn(*tensors)

        def backward(*upstream, variables=None):
            variables = list(variables or [])
            # The recomputation must wait for the upstream gradient: without this dependency a graph runtime may
            # run it during the forward pass (or merge it with the forward ops) and nothing would be saved.
            with tf.control_dependencies(list(upstream)):
                inputs = [tf.identity(t) for t in tensors]
            with tf.GradientTape() as tape, tf.name_scope("recompute"):
                tape.watch(inputs)
                again = fn(*inputs)
            grads = tape.gradient(again, inputs + variables, output_gradients=list(upstream),
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return grads[:len(tensors)], grads[len(tensors):]

        return outputs, backward

    return forward


def unroll(steps, x, *args, recompute_steps=False):
    """Applies ``x ← step(x, *args)`` for each step in ``steps``, optionally recomputing each in the backward pass.

    Args:
      steps: sequence of callables ``step(x, *args) → x``.
      x: the initial estimate, e.g. complex64 ``[B, H, W]``, or a nest of tensors (the state of a primal-dual or
        ADMM iteration).
      *args: tensors passed to every step (e.g. k-space ``[B, C, H, W]``, mask, sensitivities).
      recompute_steps: wrap each step with :func:`recompute`.

    Returns:
      the final ``x``.
    """
    for step in steps:
        x = recompute(step, enabled=recompute_steps)(x, *args)
    return x
