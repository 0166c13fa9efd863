"""Model adapters behind small protocols, so that tests can pass tiny models through the same code.

Each adapter has real loading code for real weights (a local folder, the usual cache, or a download
on a connected machine) and raises :class:`tools.core.errors.SetupError` saying where it looked and what
to do when they are missing. Tools load models lazily, once per session (``session.models``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Denoiser(Protocol):
    """A speech denoiser that runs at one sample rate.

    ``denoise`` takes float32 ``(channels, n)`` at ``sample_rate`` and returns the same shape,
    sample-aligned with the input; noise is turned down by at most ``attenuation_limit_db``.
    """

    name: str
    sample_rate: int

    def denoise(self, samples: np.ndarray, *, attenuation_limit_db: float) -> np.ndarray: ...
