"""Memory-efficient training for every unrolled model: ``recompute=True`` (each cascade recomputed in the backward
pass through ``ReconModel.unroll``) gives the outputs and gradients of plain back-propagation, for the image, for
ADMM/primal-dual states, for VarNet's k-space state with estimated maps and for MoCo-MoDL's estimated motion (whose
networks only get gradients if the maps/fields enter the recomputed steps as arguments); models without cascades
refuse it."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo import models

UNROLLED = ["modl", "vn", "proxgrad", "admmnet", "primal_dual", "varnet", "cinenet", "moco_modl"]
CINE = {"cinenet", "moco_modl"}


def loss_and_gradients(model, inputs, target):
    with tf.GradientTape() as tape:
        output = model(inputs, training=False)
        loss = tf.reduce_sum(tf.abs(output - target) ** 2)
    return output.numpy(), [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]


@pytest.mark.parametrize("name", UNROLLED)
def test_recompute_gives_the_same_outputs_and_gradients(name):
    frames = 3 if name in CINE else None
    inputs, target = zoo_contract.toy_problem(batch=1, coils=2, height=16, width=16, frames=frames)
    config = {"estimate_sensitivities": True} if name == "varnet" else {}
    plain = models.get(name, preset="small", **config)
    plain(inputs)
    memory = models.get(name, preset="small", recompute=True, **config)
    memory(inputs)
    memory.set_weights(plain.get_weights())
    assert memory.unrolled and memory.get_config()["recompute"] is True
    out_plain, grads_plain = loss_and_gradients(plain, inputs, target)
    out_memory, grads_memory = loss_and_gradients(memory, inputs, target)
    np.testing.assert_allclose(out_memory, out_plain, atol=1e-5 * np.abs(out_plain).max())
    assert len(grads_plain) == len(grads_memory) > 0
    for a, b in zip(grads_plain, grads_memory):
        assert np.abs(a).max() == 0 or np.abs(b).max() > 0   # no variable loses its gradient (e.g. the sens-net)
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4 * max(np.abs(a).max(), 1e-12))


@pytest.mark.parametrize("name", ["unet", "motion_net", "pnp"])
def test_models_without_cascades_refuse_recompute(name):
    with pytest.raises(ValueError, match="recompute"):
        models.get(name, preset="small", recompute=True)
