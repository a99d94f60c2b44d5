"""Synthetic receive-coil sensitivities from the Biot-Savart law, and correlated coil noise.

Each coil is a circular current loop on a ring around the object (loop normal pointing to the centre, loops in one
or two rows along ``z``). The loop is cut into straight segments and the magnetic field at every voxel of the slice
is the Biot-Savart sum ``B(r) = Σ dl × (r − r') / |r − r'|³`` (constants dropped). By reciprocity, the receive
sensitivity is the transverse field ``B_x − i B_y``, times a random coil phase. Maps are normalised so that
``Σ_c |S_c|² = 1`` at every voxel (hence inside the object), the convention of SENSE-combined targets.

Coil noise is complex Gaussian with covariance ``Ψ = σ² A Aᴴ`` (``A`` = identity + random complex coupling, rows
scaled so that ``diag(Ψ) = σ²`` on average): noise samples are ``L z`` with ``L`` the Cholesky factor of ``Ψ``.
"""
import numpy as np

from tfmri_zoo.data.synthetic_phantom import grid


def loop_coils(num_coils, rng, ring_radius=1.5, loop_radius=0.5):
    """Random placement of ``num_coils`` loops on a ring; returns a list of dicts with centre, normal and phase."""
    rows = 1 if num_coils < 8 else 2
    coils = []
    for k in range(num_coils):
        angle = 2 * np.pi * k / num_coils + rng.uniform(-0.15, 0.15)
        z = 0.0 if rows == 1 else (0.35 if k % 2 else -0.35) + rng.uniform(-0.05, 0.05)
        radius = ring_radius * rng.uniform(0.95, 1.1)
        centre = np.array([radius * np.sin(angle), radius * np.cos(angle), z])  # (y, x, z)
        normal = -np.array([np.sin(angle), np.cos(angle), 0.0])
        coils.append({"centre": centre, "normal": normal, "radius": loop_radius * rng.uniform(0.85, 1.15),
                      "phase": rng.uniform(-np.pi, np.pi)})
    return coils


def _loop_field(coil, points, segments=16):
    """Biot-Savart field ``[N, 3]`` (y, x, z components) of one loop at ``points`` ``[N, 3]``."""
    normal = coil["normal"] / np.linalg.norm(coil["normal"])
    helper = np.array([0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    t = np.linspace(0, 2 * np.pi, segments + 1)
    ring = coil["centre"] + coil["radius"] * (np.cos(t)[:, None] * u + np.sin(t)[:, None] * v)
    dl = ring[1:] - ring[:-1]                                   # [K, 3] segment vectors
    r = points[:, None, :] - (ring[1:] + ring[:-1])[None] / 2   # [N, K, 3] segment midpoint -> point
    inv_dist3 = np.maximum(np.einsum("nki,nki->nk", r, r), 1e-6) ** -1.5
    cross = np.stack([dl[:, 1] * r[..., 2] - dl[:, 2] * r[..., 1],
                      dl[:, 2] * r[..., 0] - dl[:, 0] * r[..., 2],
                      dl[:, 0] * r[..., 1] - dl[:, 1] * r[..., 0]], axis=-1)
    return np.einsum("nki,nk->ni", cross, inv_dist3)


def _interp_matrix(fine, coarse):
    """Linear-interpolation matrix ``[len(fine), len(coarse)]`` from coarse to fine sample positions."""
    return np.stack([np.interp(fine, coarse, column) for column in np.eye(len(coarse))], axis=1)


def biot_savart_sensitivities(shape, coils, z=0.0, oversampling=1.0, max_grid=48):
    """Coil maps of one slice.

    The field is smooth, so it is evaluated on at most ``max_grid`` points per axis and linearly interpolated.

    Args:
      shape: ``(H, W)``.
      coils: list from :func:`loop_coils`.
      z: slice position (same units as the coil positions).
      oversampling: readout oversampling factor (see :func:`tfmri_zoo.data.synthetic_phantom.grid`).
      max_grid: largest number of field evaluations per axis.

    Returns:
      complex64 ``[C, H, W]`` with ``Σ_c |S_c|² = 1`` at every voxel.
    """
    coarse = (min(shape[0], max_grid), min(shape[1], max_grid))
    y, x = grid(coarse, oversampling)
    points = np.stack([y.ravel(), x.ravel(), np.full(y.size, z)], axis=-1)
    maps = []
    for coil in coils:
        field = _loop_field(coil, points)
        # components are (y, x, z): B_x - i B_y
        maps.append(((field[:, 1] - 1j * field[:, 0]) * np.exp(1j * coil["phase"])).reshape(coarse))
    maps = np.stack(maps)
    if coarse != tuple(shape):
        fine_y, fine_x = grid(shape, oversampling)
        rows = _interp_matrix(fine_y[:, 0], y[:, 0])
        cols = _interp_matrix(fine_x[0], x[0])
        maps = (rows @ maps.real @ cols.T) + 1j * (rows @ maps.imag @ cols.T)  # real BLAS: much faster
    rss = np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))
    return (maps / np.maximum(rss, 1e-12)).astype(np.complex64)


def noise_covariance(num_coils, rng, coupling=0.2):
    """Random Hermitian positive-definite coil noise covariance ``[C, C]`` complex128 with mean diagonal 1."""
    a = np.eye(num_coils) + coupling * (rng.standard_normal((num_coils, num_coils))
                                        + 1j * rng.standard_normal((num_coils, num_coils))) / np.sqrt(2 * num_coils)
    psi = a @ a.conj().T
    return psi / np.real(np.trace(psi)) * num_coils


def correlated_noise(shape, covariance, sigma, rng):
    """Complex Gaussian noise ``[C, *shape]`` complex64 with coil covariance ``sigma² · covariance``."""
    num_coils, size = covariance.shape[0], int(np.prod(shape))
    real, imag = rng.standard_normal((2, num_coils, size)) / np.sqrt(2)
    factor = np.linalg.cholesky(covariance)
    # complex product L·w written with real matrix products (numpy's complex matmul is slow)
    noise = (factor.real @ real - factor.imag @ imag) + 1j * (factor.real @ imag + factor.imag @ real)
    return (sigma * noise).reshape((num_coils,) + tuple(shape)).astype(np.complex64)
