"""``extra_dims`` / ``spatial_rank``: every zoo model honours the values it supports and refuses the others with a
``ValueError`` naming the argument (docs/design.md, naming conventions)."""
import pytest

from tfmri_zoo import models
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel

ALL = {name: type(models.get(name, preset="small")) for name in models.list()}
CLASSES = {name: cls for name, cls in ALL.items() if issubclass(cls, ReconModel)}    # k-space reconstruction models


def test_only_the_field_to_susceptibility_model_is_not_a_kspace_reconstruction():
    assert {name for name in ALL if name not in CLASSES} == {"qsm"}


def _build(name, **config):
    return models.get(name, preset="small", **config)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_model_declares_its_layouts_and_refuses_others(name):
    cls = CLASSES[name]
    assert issubclass(cls, ReconModel) and cls.layouts is not None, name
    for key, bad in (("extra_dims", 2), ("extra_dims", -1), ("spatial_rank", 1), ("spatial_rank", 4)):
        assert bad not in cls.layouts[key]
        with pytest.raises(ValueError, match=key):
            _build(name, **{key: bad})
    for key in ("extra_dims", "spatial_rank"):
        unsupported = [v for v in (0, 1) if v not in cls.layouts[key]] if key == "extra_dims" else \
            [v for v in (2, 3) if v not in cls.layouts[key]]
        for value in unsupported:
            with pytest.raises(ValueError, match=key):
                _build(name, **{key: value})


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_supported_layouts_are_kept_in_the_config(name):
    cls = CLASSES[name]
    model = _build(name)
    config = model.get_config()
    assert (config["extra_dims"], config["spatial_rank"]) == (cls.layouts["extra_dims"][0],
                                                             cls.layouts["spatial_rank"][0])
    for value in cls.layouts["spatial_rank"]:
        assert _build(name, spatial_rank=value).spatial_rank == value
    for value in cls.layouts["extra_dims"]:
        assert _build(name, extra_dims=value).extra_dims == value


def test_2d_and_2dt_models():
    two_d = {"admmnet", "modl", "pnp", "primal_dual", "proxgrad", "unet", "varnet", "vn", "deq", "recon_seg"}
    assert {n for n, c in CLASSES.items() if c.layouts == LAYOUT_2D} == two_d
    assert CLASSES["cinenet"].layouts == {"extra_dims": (1,), "spatial_rank": (2, 3)}
    for name in ("motion_net", "moco_modl"):
        assert CLASSES[name].layouts == {"extra_dims": (1,), "spatial_rank": (2,)}


def test_generic_subclass_accepts_any_layout_and_refuses_nonsense():
    class Generic(ReconModel):
        def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
            return self.make_operator(mask, sensitivities).adjoint(kspace)

    assert (Generic().extra_dims, Generic().spatial_rank) == (0, 2)
    assert (Generic(extra_dims=1, spatial_rank=3).extra_dims, Generic(spatial_rank=3).spatial_rank) == (1, 3)
    with pytest.raises(ValueError, match="spatial_rank"):
        Generic(spatial_rank=1)
    with pytest.raises(ValueError, match="extra_dims"):
        Generic(extra_dims=-1)
    with pytest.raises(ValueError, match="extra_dims"):
        Generic(extra_dims=1.5)
