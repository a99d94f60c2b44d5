"""Memory-efficient unrolling: recomputed cascades give the same outputs and gradients as plain back-propagation."""
import numpy as np
import tensorflow as tf

from tests.models.zoo_contract import toy_problem
from tfmri_zoo.layers.data_consistency import ProximalL2DC
from tfmri_zoo.models.regularizers import DnCNN
from tfmri_zoo.layers.recompute import recompute, unroll


def _cascades(count):
    denoisers = [DnCNN(filters=8, layers=2) for _ in range(count)]
    dc = ProximalL2DC(lam=0.05, cg_iterations=2)

    def make(denoiser):
        return lambda x, k, m, s: dc(denoiser(x), k, m, s)

    return [make(d) for d in denoisers], denoisers, dc


def test_recompute_matches_plain_backprop_eager_and_graph():
    inputs, target = toy_problem(batch=2)
    steps, denoisers, dc = _cascades(2)
    args = (tf.constant(inputs["kspace"]), tf.constant(inputs["mask"]), tf.constant(inputs["sensitivities"]))
    x0 = tf.constant(target * 0.5)
    unroll(steps, x0, *args)  # build
    variables = [v for d in denoisers for v in d.trainable_variables] + dc.trainable_variables

    def loss_and_grads(flag):
        # (a name scope: the regulariser's own scope names cannot be root scopes of a graph)
        with tf.GradientTape() as tape, tf.name_scope("unrolled"):
            out = unroll(steps, x0, *args, recompute_steps=flag)
            loss = tf.reduce_sum(tf.abs(out - target) ** 2)
        return out, tape.gradient(loss, variables)

    plain_out, plain = loss_and_grads(False)
    graph = tf.function(loss_and_grads)
    for run in (lambda: loss_and_grads(True), lambda: graph(True)):
        out, grads = run()
        np.testing.assert_allclose(out.numpy(), plain_out.numpy(), rtol=1e-5, atol=1e-5)
        assert all(g is not None for g in grads)
        for a, b in zip(grads, plain):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-3, atol=2e-4 * np.abs(b.numpy()).max())


def test_recompute_passes_none_arguments():
    step = recompute(lambda x, none, scale: x * scale if none is None else None)
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = step(x, None, tf.constant(3.0))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [3.0, 3.0])
