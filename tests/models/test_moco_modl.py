"""moco_modl: zoo contract, pinned default size, motion-aware proximal data consistency."""
import numpy as np
import pytest

from tests.conftest import crandn
from tests.models.test_cinenet import check_dynamic_zoo_contract, dynamic_problem
from tests.models.test_motion_net import moving_problem, relative_error, with_fields
from tfmri_zoo import models
from tfmri_zoo.models.moco_modl import MoCoMoDL, MotionProximalDC
from tfmri_zoo.physics.motion import MotionSenseOperator

DEFAULT_PARAMS = 2039525  # printed in models/moco_modl/README.md


@pytest.fixture(scope="module")
def problem():
    return dynamic_problem()


def test_small_preset_meets_the_zoo_contract(problem):
    inputs, target = problem
    check_dynamic_zoo_contract("moco_modl", MoCoMoDL, inputs, target, sense_iterations=1, cg_iterations=2)


def test_default_size(problem):
    inputs, _ = problem
    model = models.get("moco_modl", preset="default")
    model({k: v[:1] for k, v in inputs.items()})
    assert model.count_params() == DEFAULT_PARAMS
    assert (model.iterations, model.cg_iterations) == (4, 10) and len({id(d) for d in model.denoisers}) == 1


def test_motion_proximal_dc_solves_the_motion_aware_normal_equations(rng):
    b, c, t, n = 1, 3, 3, 12
    sens = crandn(rng, b, c, 1, n, n)
    mask = (rng.random((b, 1, t, 1, n)) < 0.5).astype(np.float32)
    u = (0.8 * rng.standard_normal((b, t, n, n, 2))).astype(np.float32)
    kspace, z = crandn(rng, b, c, t, n, n), crandn(rng, b, n, n)
    dc = MotionProximalDC(lam=0.5, cg_iterations=60, trainable_lam=False)
    x = dc(z, kspace, mask, sens, displacements=u).numpy()
    op = MotionSenseOperator(sens, mask, u)
    lam = float(np.log1p(np.exp(dc.lam.numpy())))
    residual = op.normal(x).numpy() + lam * x - (op.adjoint(kspace).numpy() + lam * z)
    assert np.linalg.norm(residual) < 1e-3 * np.linalg.norm(op.adjoint(kspace).numpy()), np.linalg.norm(residual)
    with pytest.raises(ValueError, match="displacements"):
        dc(z, kspace, mask, sens)


def test_true_fields_and_an_identity_denoiser_recover_the_moving_frames():
    """With the true fields and D = identity (its last convolution zeroed: the residual CNN returns its input),
    MoDL's step x ← (EᴴE + λI)⁻¹(Eᴴy + λx) is a proximal-point iteration on the motion-aware least squares, so the
    output frames are the moving truth; with the trained-from-scratch denoiser the frames still move with the
    fields: every output frame is the reference output warped by u_t."""
    inputs, truth, fields = moving_problem()
    model = with_fields(MoCoMoDL(iterations=2, cg_iterations=15, lam=0.05, init_lam=1e-4, sense_iterations=1,
                                 filters=4, depth=1, regularizer={"name": "dncnn", "filters": 4, "layers": 2}),
                        inputs, fields)
    last = model.denoisers[0].weights[-2:]                           # kernel and bias of the output convolution
    for w in last:
        w.assign(np.zeros(w.shape, np.float32))
    out = model(inputs).numpy()
    assert relative_error(out, truth) < 0.03
    zero = with_fields(MoCoMoDL.from_config(model.get_config()), inputs, np.zeros_like(fields))
    for w, v in zip(zero.denoisers[0].weights[-2:], last):
        w.assign(v)
    assert relative_error(zero(inputs).numpy(), truth) > 0.2
