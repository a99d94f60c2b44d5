"""moco_modl: zoo contract, pinned default size, motion-aware proximal data consistency."""
import numpy as np
import pytest

from tests.conftest import crandn
from tests.models.test_cinenet import check_dynamic_zoo_contract, dynamic_problem
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
