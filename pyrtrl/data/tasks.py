"""Streams to learn from: a synthetic memory task, and recorded signals shipped with packages."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..errors import PyrtrlError


def delayed_recall(
    steps: int, delays: Tuple[int, ...] = (1, 2), noise: float = 0.1, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """A memory task: recall the input ``delays`` steps back.

    x_t ~ N(0, 1) (one channel); target_t[i] = x_{t - delays[i]} + N(0, noise^2) (zero
    before the stream starts). A memoryless model can do no better than a loss of
    0.5 * (len(delays) + ...) per step; learning it needs the recurrent state.

    Returns
    -------
    x : ndarray (steps, 1)
    target : ndarray (steps, len(delays))
    """
    if steps < 1:
        raise PyrtrlError(f"steps must be positive, got {steps}")
    if not delays or min(delays) < 1:
        raise PyrtrlError(f"delays must be positive integers, got {delays}")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps, 1))
    target = np.zeros((steps, len(delays)))
    for i, dl in enumerate(delays):
        target[dl:, i] = x[:-dl, 0] if dl < steps else 0
    target += noise * rng.normal(size=target.shape)
    return x, target
