"""Optimizers for online learning: SGD and Adam over named parameter arrays, with clipping."""

from __future__ import annotations

from typing import Dict

import numpy as np

from ..errors import PyrtrlError
from ..run_defaults import ADAM_BETA1, ADAM_BETA2, ADAM_EPS


def clip_global_norm(grads: Dict[str, np.ndarray], max_norm: float) -> float:
    """Scale ``grads`` in place so their joint L2 norm is at most ``max_norm``; return the norm before."""
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / norm
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    """Plain stochastic gradient descent: theta -= lr * grad."""

    def __init__(self, lr: float) -> None:
        if not (np.isfinite(lr) and lr > 0):
            raise PyrtrlError(f"learning rate must be a positive number, got {lr}")
        self.lr = float(lr)

    def update(self, params: Dict[str, np.ndarray], grads: Dict[str, np.ndarray]) -> None:
        """Apply one step in place."""
        for name, g in grads.items():
            params[name] -= (self.lr * g).astype(params[name].dtype, copy=False)


class Adam:
    """Adam (Kingma & Ba) in the form the fixed-point learner computes (docs/numerics.md).

    With moments m <- b1 m + (1 - b1) g and v <- b2 v + (1 - b2) g^2, the step is
    ``lr_t * m / sqrt(max(v, eps^2))`` with the bias correction folded into the rate,
    ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``. It equals the textbook
    ``lr * m_hat / (sqrt(v_hat) + eps)`` up to how eps enters (a floor on v instead of a
    term added to its root): the floor needs no division on the device. The defaults
    b1 = 1 - 2^-3, b2 = 1 - 2^-10 are the device's (its betas are 1 - 2^-a); state: two
    arrays the size of the parameters.
    """

    def __init__(self, lr: float, beta1: float = ADAM_BETA1, beta2: float = ADAM_BETA2,
                 eps: float = ADAM_EPS) -> None:
        if not (np.isfinite(lr) and lr > 0):
            raise PyrtrlError(f"learning rate must be a positive number, got {lr}")
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise PyrtrlError(f"Adam betas must be in [0, 1), got {beta1}, {beta2}")
        if not (np.isfinite(eps) and eps > 0):
            raise PyrtrlError(f"Adam eps must be a positive number, got {eps}")
        self.lr, self.beta1, self.beta2, self.eps = float(lr), beta1, beta2, eps
        self.t = 0
        self.m: Dict[str, np.ndarray] = {}
        self.v: Dict[str, np.ndarray] = {}

    def update(self, params: Dict[str, np.ndarray], grads: Dict[str, np.ndarray]) -> None:
        """Apply one step in place."""
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for name, g in grads.items():
            if name not in self.m:
                self.m[name] = np.zeros_like(g)
                self.v[name] = np.zeros_like(g)
            m, v = self.m[name], self.v[name]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            step = lr_t * m / np.sqrt(np.maximum(v, self.eps * self.eps))
            params[name] -= step.astype(params[name].dtype, copy=False)


def make_optimizer(name: str, lr: float) -> "SGD | Adam":
    """``"sgd"`` or ``"adam"``."""
    if name == "sgd":
        return SGD(lr)
    if name == "adam":
        return Adam(lr)
    raise PyrtrlError(f"unknown optimizer {name!r}; choose sgd or adam")
