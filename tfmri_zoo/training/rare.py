"""Denoisers learned without clean images (RARE; Liu, Sun, Eldeniz, Gan & Kamilov, IEEE JSTSP 2020; review Sec. III-B).

Each undersampled scan is split into two disjoint random halves of its acquired phase-encoding lines, ``Λ₁ ∪ Λ₂``;
each half is reconstructed on its own (CG-SENSE), ``x₁ = x(Λ₁)``, ``x₂ = x(Λ₂)``. The two images show the same object
with independent noise and different aliasing, so a network trained to map ``x₁ → x₂`` (and ``x₂ → x₁``) with an ℓ2
loss learns ``E[x₂ | x₁]``: the object without the artefacts it cannot predict (Noise2Noise's argument, Lehtinen et
al. 2018, with artefacts in place of noise). The result is an artefact-to-artefact denoiser for plug-and-play and
RED (:mod:`tfmri_zoo.recon.pnp`), trained from measurements alone.
"""
import numpy as np
import tensorflow as tf

from tfmri_zoo.recon.sense import sense
from tfmri_zoo.training.ssdu import split_mask


def split_lines(mask, seed):
    """Two disjoint random halves of the acquired lines of each example (SSDU's :func:`split_mask` with ρ = ½ and no
    protected centre).

    Args:
      mask: float32 ``[B, 1, 1, W]`` line mask.
      seed: int (stateless).

    Returns:
      ``(first, second)`` float32 numpy masks of ``mask``'s shape, ``first + second = mask``.

    Raises:
      ValueError: a mask that is not one value per line, or an example with fewer than two acquired lines.
    """
    mask = np.asarray(mask, np.float32)
    if mask.ndim != 4 or mask.shape[1:3] != (1, 1):
        raise ValueError(f"mask: expected phase-encoding lines [B, 1, 1, W], got shape {mask.shape}.")
    counts = (mask[:, 0, 0] > 0).sum(axis=-1)
    if counts.min() < 2:
        raise ValueError(f"mask: example {int(counts.argmin())} has {int(counts.min())} acquired line(s); splitting "
                         "needs at least 2.")
    first, second = split_mask(mask, tf.constant([int(seed), 0], tf.int64), rho=0.5, centre_size=0)
    return first.numpy(), second.numpy()


def rare_pairs(kspace, mask, sensitivities, seed, lam=1e-3, max_iter=30):
    """Artefact-to-artefact training pairs from undersampled scans (both directions).

    Args:
      kspace: complex64 ``[B, C, H, W]`` (zero where not acquired).
      mask: float32 ``[B, 1, 1, W]``.
      sensitivities: complex64 ``[B, C, H, W]``.
      seed: int, the split's seed.
      lam, max_iter: the CG-SENSE of each half.

    Returns:
      ``(inputs, targets)`` complex64 numpy ``[2B, H, W]``: ``x₁`` → ``x₂`` then ``x₂`` → ``x₁``.
    """
    first, second = split_lines(mask, seed)
    halves = [sense(np.asarray(kspace) * m, m, sensitivities, lam=lam, max_iter=max_iter).numpy()
              for m in (first, second)]
    return (np.concatenate(halves).astype(np.complex64),
            np.concatenate(halves[::-1]).astype(np.complex64))
