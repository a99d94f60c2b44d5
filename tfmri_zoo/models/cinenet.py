"""CINENet (Küstner et al., Sci. Rep. 2020): cascaded complex U-Nets with split spatio-temporal convolutions.

Review Sec. IV-B, Fig. 5. For ``k = 1..K`` cascades, on 2D+t images ``x ∈ C^{T×H×W}``:

    x₀ = Eᴴy,    z_k = x_{k−1} + U_k(x_{k−1}),    x_k = DC_k(z_k)

with ``E = [M_t F C]_t`` the 2D+t SENSE operator (k-t mask ``M_t``), ``U_k`` a complex U-Net whose convolutions are
split into a 2D spatial convolution per frame followed by a 1D temporal convolution per pixel
(:class:`tfmri_zoo.layers.complex_conv.ComplexConv2Dt`), complex activations, complex normalisation and
max-magnitude pooling (spatial axes only), and ``DC_k`` either a gradient step ``z − λ_k Eᴴ(Ez − y)`` (Eq. 6) or the
proximal step ``(EᴴE + λ_k I)⁻¹(Eᴴy + λ_k z)`` by CG (Eq. 8). ``complex_network=False`` builds the same network as a
real 2-channel network (unconstrained real kernels on ``[Re, Im]``) for comparison.

3D+t (``spatial_rank=3``): images ``x ∈ C^{T×D×H×W}``, ``E`` the SENSE operator with a 3D FFT over ``D, H, W`` per
frame, and U-Nets of :class:`~tfmri_zoo.layers.complex_conv.ComplexConv3Dt` (a 3D convolution per frame, then a 1D
temporal convolution per voxel) with max-magnitude pooling of ``D, H, W`` per frame (``conv="3dt"``).
"""
import keras

from tfmri_zoo.layers.complex_unet import ComplexUNet
from tfmri_zoo.layers.data_consistency import GradientDC, ProximalL2DC
from tfmri_zoo.models.base import ReconModel
from tfmri_zoo.models.registry import register


@register("cinenet", presets={
    "small": {"iterations": 2, "filters": 4, "depth": 1, "convs": 1, "norm": None,
              "dc": "gradient"},
    "default": {"iterations": 5, "filters": 16, "depth": 2, "convs": 2, "norm": "instance",
                "dc": "proximal", "cg_iterations": 5},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class CINENet(ReconModel):
    """CINENet on 2D+t (or 3D+t) multi-coil data.

    Args:
      iterations: number of (U-Net, DC) cascades ``K`` (weights not shared).
      filters: features of the U-Nets' first level (doubled per level).
      depth: number of spatial poolings per U-Net (``H``, ``W`` (and ``D``) must be divisible by ``2**depth``).
      convs: split convolutions per U-Net level.
      kernel_size: spatial and temporal kernel size of the split convolutions.
      activation: complex activation (``"cardioid"``, ``"modrelu"``, ``"crelu"``, ...).
      norm: ``None``, ``"instance"``, ``"batch"`` or ``"layer"`` (complex whitening).
      complex_network: ``True`` complex convolutions (Eq. 26), ``False`` real 2-channel variant.
      dc: ``"gradient"`` (Eq. 6) or ``"proximal"`` (CG, Eq. 8).
      lam: initial ``λ_k`` of every DC layer (trainable, ≥ 0): step size for ``"gradient"``, penalty for
        ``"proximal"``; ``None`` gives 1.0 (gradient) or 0.05 (proximal).
      cg_iterations: CG iterations of the proximal DC.
      spatial_rank: ``2`` (2D+t) or ``3`` (3D+t: a depth axis ``D`` before ``H, W`` everywhere, 3D FFT).
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments (``normalize``).

    Call args: ``{"kspace": complex64 [B, C, T, H, W], "mask": float32 [B, 1, T, 1, W] or [B, 1, T, H, W],
    "sensitivities": complex64 [B, C, 1, H, W]}``. Returns complex64 ``[B, T, H, W]``. With ``spatial_rank=3``:
    ``kspace [B, C, T, D, H, W]``, ``mask [B, 1, T, 1|D, 1|H, W]`` (broadcastable), ``sensitivities
    [B, C, 1, D, H, W]`` → ``[B, T, D, H, W]``. ``extra_dims`` other than 1 raises a ``ValueError``.
    With ``operator="nufft"`` (non-Cartesian 2D+t, e.g. golden-angle radial with new spokes every frame):
    ``{"kspace": complex64 [B, C, T, M], "trajectory": float32 [B, T, M, 2] (radians, [-π, π)), "density": float32
    [B, T, M] (optional), "sensitivities": complex64 [B, C, 1, H, W]}`` → ``[B, T, H, W]``.
    """

    layouts = {"extra_dims": (1,), "spatial_rank": (2, 3)}
    operators = ("cartesian", "nufft")  # operator="nufft": one trajectory per frame (models/base.py)
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)
    unrolled = True

    def __init__(self, iterations=5, filters=16, depth=2, convs=2, kernel_size=3, activation="cardioid",
                 norm="instance", complex_network=True, dc="proximal", lam=None, cg_iterations=5,
                 spatial_rank=2, **kwargs):
        if spatial_rank not in (2, 3):
            raise ValueError(f"spatial_rank: expected 2 (2D+t) or 3 (3D+t), got {spatial_rank!r}.")
        super().__init__(spatial_rank=spatial_rank, **kwargs)
        if dc not in ("gradient", "proximal"):
            raise ValueError(f"dc: expected 'gradient' or 'proximal', got {dc!r}.")
        if int(iterations) < 1:
            raise ValueError(f"iterations: expected a positive int, got {iterations}.")
        self.iterations, self.filters, self.depth = int(iterations), int(filters), int(depth)
        self.convs, self.kernel_size = int(convs), int(kernel_size)
        self.activation, self.norm = activation, norm
        self.complex_network, self.dc = bool(complex_network), dc
        self.lam = float(lam) if lam is not None else (1.0 if dc == "gradient" else 0.05)
        self.cg_iterations = int(cg_iterations)
        self.unets = [ComplexUNet(filters=self.filters, depth=self.depth, convs=self.convs,
                                  kernel_size=self.kernel_size, activation=activation,
                                  conv="2dt" if self.spatial_rank == 2 else "3dt",
                                  norm=norm, complex_network=self.complex_network, out_features=1,
                                  residual=True, name=f"unet{k}") for k in range(self.iterations)]
        if dc == "gradient":
            self.dcs = [GradientDC(lam=self.lam, spatial_rank=self.spatial_rank, name=f"dc{k}")
                        for k in range(self.iterations)]
        else:
            self.dcs = [ProximalL2DC(lam=self.lam, cg_iterations=self.cg_iterations,
                                     spatial_rank=self.spatial_rank, name=f"dc{k}")
                        for k in range(self.iterations)]

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        x = self.initial_image(kspace, mask, sensitivities, noise_std)              # [B, T, (D,) H, W]
        steps = [lambda x, k, m, s, unet=unet, dc=dc: dc(unet(x[..., None], training=training)[..., 0], k, m, s)
                 for unet, dc in zip(self.unets, self.dcs)]
        return self.unroll(steps, x, kspace, mask, sensitivities)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "filters": self.filters, "depth": self.depth,
                "convs": self.convs, "kernel_size": self.kernel_size,
                "activation": self.activation, "norm": self.norm,
                "complex_network": self.complex_network, "dc": self.dc, "lam": self.lam,
                "cg_iterations": self.cg_iterations}
