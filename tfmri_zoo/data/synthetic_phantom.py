"""Random, seeded 3D tissue phantoms rendered slice by slice: label maps, relaxation maps, smooth texture and phase.

What it is: a piecewise-constant tissue label volume made of a body ellipsoid (fat shell, muscle inside) holding
random ellipsoids and extruded star-shaped polygons of other tissues, with literature-like proton density, T1 and T2
per tissue (1.5–3 T ballpark), multiplied by a smooth multi-scale texture and carrying a smooth phase. A slice at
height ``z`` is the cross-section of that volume, so neighbouring slices of one volume agree. Contrast comes from a
spin-echo signal model ``PD (1 - exp(-TR/T1)) exp(-TE/T2)`` with (TR, TE) drawn per volume (PD-, T1- or
T2-weighted). What it is not: anatomy. There are no real organs, no vessels, no susceptibility or chemical-shift
effects, and the statistics of real images (fastMRI knee/brain) differ; models trained on it learn generic
structure (edges, smooth regions, texture at several scales), not anatomy.

Coordinates are normalised: rows ``y`` and columns ``x`` in ``[-1, 1]`` (rows stretched by the readout
``oversampling`` factor so that the object fills ``1/oversampling`` of the rows, as in fastMRI knee data).
"""
import numpy as np

# name: (label, proton density, T1 [ms], T2 [ms])
TISSUES = {
    "background": (0, 0.0, 1.0, 1.0),
    "fat": (1, 0.9, 300.0, 80.0),
    "muscle": (2, 0.7, 1200.0, 40.0),
    "white_matter": (3, 0.65, 800.0, 70.0),
    "grey_matter": (4, 0.8, 1400.0, 100.0),
    "csf": (5, 1.0, 4000.0, 2000.0),
    "blood": (6, 0.85, 1600.0, 250.0),
    "cartilage": (7, 0.75, 1000.0, 35.0),
    "marrow": (8, 0.6, 550.0, 60.0),
}
INNER_TISSUES = ("white_matter", "grey_matter", "csf", "blood", "cartilage", "marrow", "fat")
_PARAMS = np.array([TISSUES[name][1:] for name in sorted(TISSUES, key=lambda n: TISSUES[n][0])], np.float64)

WEIGHTINGS = {"pd": (3000.0, 15.0), "t1": (500.0, 12.0), "t2": (4000.0, 90.0)}


def grid(shape, oversampling=1.0):
    """Normalised ``(y, x)`` coordinate arrays ``[H, W]``; rows span ``[-oversampling, oversampling]``."""
    height, width = shape
    y = (np.arange(height) - height / 2 + 0.5) / (height / 2) * oversampling
    x = (np.arange(width) - width / 2 + 0.5) / (width / 2)
    return np.meshgrid(y, x, indexing="ij")


class Phantom:
    """A random tissue volume; :meth:`render` returns one slice.

    Args:
      rng: ``numpy.random.Generator`` (the phantom is fully determined by its state).
      num_structures: number of inner ellipsoids and polygons.
      weighting: ``"pd"``, ``"t1"``, ``"t2"`` or ``None`` (drawn at random).
    """

    def __init__(self, rng, num_structures=12, weighting=None):
        self.body = dict(c=(rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), 0.0),
                         r=(rng.uniform(0.6, 0.8), rng.uniform(0.6, 0.85), 3.0), angle=rng.uniform(-0.4, 0.4))
        self.shell = rng.uniform(0.05, 0.1)
        self.structures = []
        for _ in range(num_structures):
            tissue = TISSUES[INNER_TISSUES[rng.integers(len(INNER_TISSUES))]][0]
            centre = (rng.uniform(-0.45, 0.45), rng.uniform(-0.45, 0.45), rng.uniform(-0.6, 0.6))
            if rng.uniform() < 0.6:
                size = rng.uniform(0.04, 0.3)
                self.structures.append(dict(kind="ellipse", tissue=tissue, c=centre, angle=rng.uniform(0, np.pi),
                                            r=(size, size * rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0))))
            else:
                count = int(rng.integers(5, 10))
                angles = np.sort(rng.uniform(0, 2 * np.pi, count))
                radii = rng.uniform(0.05, 0.25, count)
                self.structures.append(dict(kind="polygon", tissue=tissue, c=centre, angles=angles, radii=radii,
                                            half_length=rng.uniform(0.3, 1.0)))
        self.weighting = weighting or ("pd", "t1", "t2")[rng.integers(3)]
        self.texture_seed = int(rng.integers(2**31))
        self.phase = dict(coeffs=rng.uniform(-1.0, 1.0, 6) * np.array([0.5, 1.5, 1.5, 1.0, 1.0, 1.0]),
                          bumps=[(rng.uniform(-0.6, 0.6, 2), rng.uniform(0.1, 0.4), rng.uniform(-1.5, 1.5))
                                 for _ in range(2)])

    @staticmethod
    def _ellipse(y, x, z, c, r, angle):
        scale = 1.0 - ((z - c[2]) / r[2]) ** 2
        if scale <= 0:
            return np.zeros(y.shape, bool)
        cos, sin = np.cos(angle), np.sin(angle)
        u = (y - c[0]) * cos + (x - c[1]) * sin
        v = -(y - c[0]) * sin + (x - c[1]) * cos
        return (u / r[0]) ** 2 + (v / r[1]) ** 2 <= scale

    @staticmethod
    def _polygon(y, x, z, s):
        if abs(z - s["c"][2]) > s["half_length"]:
            return np.zeros(y.shape, bool)
        dy, dx = y - s["c"][0], x - s["c"][1]
        theta = np.mod(np.arctan2(dy, dx), 2 * np.pi)
        angles = np.concatenate([s["angles"][-1:] - 2 * np.pi, s["angles"], s["angles"][:1] + 2 * np.pi])
        radii = np.concatenate([s["radii"][-1:], s["radii"], s["radii"][:1]])
        return np.hypot(dy, dx) <= np.interp(theta, angles, radii)

    def labels(self, shape, z=0.0, oversampling=1.0):
        """Tissue labels ``[H, W]`` uint8 of the slice at height ``z`` (see :data:`TISSUES`)."""
        y, x = grid(shape, oversampling)
        labels = np.zeros(shape, np.uint8)
        b = self.body
        labels[self._ellipse(y, x, z, b["c"], b["r"], b["angle"])] = TISSUES["fat"][0]
        inner = (b["r"][0] - self.shell, b["r"][1] - self.shell, b["r"][2])
        body = self._ellipse(y, x, z, b["c"], inner, b["angle"])
        labels[body] = TISSUES["muscle"][0]
        for s in self.structures:
            inside = (self._ellipse(y, x, z, s["c"], s["r"], s["angle"]) if s["kind"] == "ellipse"
                      else self._polygon(y, x, z, s))
            labels[inside & body] = s["tissue"]
        return labels

    def texture(self, shape, z=0.0):
        """Smooth multi-scale multiplicative texture ``[H, W]`` float64 around 1 (same field for every ``z``)."""
        rng = np.random.default_rng(self.texture_seed)
        noise = rng.standard_normal(shape)
        spectrum = np.fft.fft2(noise)
        ky = np.fft.fftfreq(shape[0])[:, None]
        kx = np.fft.fftfreq(shape[1])[None, :]
        k2 = ky**2 + kx**2
        field = np.zeros(shape)
        for scale, weight in ((0.01, 0.10), (0.04, 0.05), (0.15, 0.025)):
            band = np.real(np.fft.ifft2(spectrum * np.exp(-k2 / (2 * scale**2))))
            field += weight * band / (band.std() + 1e-12)
        return 1.0 + field * (1.0 + 0.2 * np.sin(3 * z))

    def phase_map(self, shape, oversampling=1.0):
        """Smooth phase ``[H, W]`` in radians: a random quadratic plus two Gaussian bumps."""
        y, x = grid(shape, oversampling)
        c = self.phase["coeffs"]
        phase = c[0] + c[1] * y + c[2] * x + c[3] * y * x + c[4] * y**2 + c[5] * x**2
        for centre, width, height in self.phase["bumps"]:
            phase += height * np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * width**2))
        return phase

    def render(self, shape, z=0.0, oversampling=1.0):
        """One slice of the volume.

        Args:
          shape: ``(H, W)``.
          z: slice position in ``[-1, 1]``.
          oversampling: readout oversampling factor (object fills ``1/oversampling`` of the rows).

        Returns:
          dict: ``image`` complex64 ``[H, W]`` (max magnitude about 1), ``labels`` uint8, ``pd``, ``t1``, ``t2``
          float32 maps (``t1``/``t2`` in ms, zero in the background), ``support`` bool, ``phase`` float32.
        """
        labels = self.labels(shape, z, oversampling)
        params = _PARAMS[labels]
        pd = params[..., 0] * self.texture(shape, z)
        t1, t2 = params[..., 1], params[..., 2]
        tr, te = WEIGHTINGS[self.weighting]
        magnitude = pd * (1 - np.exp(-tr / t1)) * np.exp(-te / t2)
        phase = self.phase_map(shape, oversampling)
        support = labels > 0
        image = (magnitude * np.exp(1j * phase) * support).astype(np.complex64)
        return {"image": image, "labels": labels, "pd": (pd * support).astype(np.float32),
                "t1": (t1 * support).astype(np.float32), "t2": (t2 * support).astype(np.float32),
                "support": support, "phase": phase.astype(np.float32)}
