"""The EGRU model: named parameter arrays, pruning masks and the two pseudo-derivative scalars.

Equations (DESIGN section 3), per step with input x and previous state c_prev:

    u   = sigmoid(W_u x + R_u y_prev + b_u)
    r   = sigmoid(W_r x + R_r y_prev + b_r)
    g   = tanh(W_g x + b_g + r * (R_g y_prev + b_rg))
    c   = u * h_prev + (1 - u) * g
    o   = H(c - thr)                 (H(0) = 0)
    y   = o * c,   h = c - o * thr,   out = W_o y + b_o

The six input/recurrent matrices carry boolean masks; masked entries are exactly zero and
stay so. ``thr`` lives in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ..errors import PyrtrlError

#: Input and recurrent weight matrices, each with a pruning mask.
MASKED: tuple[str, ...] = ("W_u", "W_r", "W_g", "R_u", "R_r", "R_g")
#: Per-unit vectors.
VECTORS: tuple[str, ...] = ("b_u", "b_r", "b_g", "b_rg", "thr")
#: Parameters of the recurrent cell: these have columns in the RTRL influence matrix.
CELL: tuple[str, ...] = MASKED + VECTORS
#: The linear readout, trained from its immediate gradient.
READOUT: tuple[str, ...] = ("W_o", "b_o")
#: Every parameter, in the canonical order used by files and exports.
PARAMS: tuple[str, ...] = CELL + READOUT

GATES: tuple[str, ...] = ("u", "r", "g")

#: What the readout reads from the cell: the events y or the internal state c.
READOUT_SOURCES: tuple[str, ...] = ("y", "c")
#: Most input taps the readout may have (the firmware keeps them in a fixed ring).
MAX_TAPS = 64

#: EvNN defaults for the pseudo-derivative psi(v) = gamma * max(0, 1 - |v| / eps).
DEFAULT_GAMMA = 0.7
DEFAULT_EPS = 1.0


@dataclass
class EGRU:
    """An event-based GRU with a linear readout.

    Parameters
    ----------
    params : dict of str to ndarray
        Arrays named as in :data:`PARAMS`: ``W_*`` (n x d), ``R_*`` (n x n), ``b_*`` and
        ``thr`` (n), ``W_o`` (k x (n + taps * d)), ``b_o`` (k). All share one float dtype.
    masks : dict of str to ndarray of bool
        One mask per name in :data:`MASKED`, shaped like its weight; ``False`` = pruned.
    gamma, eps : float
        Height and half-width of the pseudo-derivative of the Heaviside event function.
    readout : {"y", "c"}
        The readout's state source: the events y (sparse; the loss reaches only units
        within eps of their threshold) or the internal state c (every unit).
    taps : int
        Recent inputs the readout also sees (0 = none, 1 = x_t, 2 = x_t and x_{t-1}, ...).

    Notes
    -----
    Construct with :func:`init_egru` or :func:`pyrtrl.load_model`; direct construction is
    checked by :meth:`validate`.
    """

    params: Dict[str, np.ndarray]
    masks: Dict[str, np.ndarray]
    gamma: float = DEFAULT_GAMMA
    eps: float = DEFAULT_EPS
    readout: str = "y"
    taps: int = 0

    def __post_init__(self) -> None:
        self.validate()

    # -- shape -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of hidden units."""
        return int(self.params["b_u"].shape[0])

    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self.params["W_u"].shape[1])

    @property
    def k(self) -> int:
        """Output dimension of the readout."""
        return int(self.params["b_o"].shape[0])

    @property
    def features(self) -> int:
        """Columns of ``W_o``: the state source (n) and the input taps (taps * d)."""
        return self.n + self.taps * self.d

    @property
    def dtype(self) -> np.dtype:
        """Float dtype of every parameter (float32 or float64)."""
        return self.params["b_u"].dtype

    @property
    def shared_mask(self) -> bool:
        """True when the three gates share one input mask and one recurrent mask."""
        m = self.masks
        return bool(
            np.array_equal(m["W_u"], m["W_r"]) and np.array_equal(m["W_u"], m["W_g"])
            and np.array_equal(m["R_u"], m["R_r"]) and np.array_equal(m["R_u"], m["R_g"])
        )

    def num_params(self, cell_only: bool = False) -> int:
        """Trainable (unmasked) parameters; ``cell_only`` leaves out the readout."""
        names = CELL if cell_only else PARAMS
        total = 0
        for name in names:
            total += int(self.masks[name].sum()) if name in MASKED else self.params[name].size
        return total

    def density(self) -> float:
        """Fraction of the six masked matrices' entries that are kept."""
        kept = sum(int(self.masks[m].sum()) for m in MASKED)
        return kept / sum(self.masks[m].size for m in MASKED)

    # -- consistency -------------------------------------------------------------------
    def validate(self) -> None:
        """Check names, shapes, dtypes, finiteness, masks and thresholds.

        Raises
        ------
        PyrtrlError
            One line naming the first problem found.
        """
        p, m = self.params, self.masks
        if self.readout not in READOUT_SOURCES:
            raise PyrtrlError(f"readout must be one of {', '.join(READOUT_SOURCES)}, got {self.readout!r}")
        if int(self.taps) != self.taps or not (0 <= self.taps <= MAX_TAPS):
            raise PyrtrlError(f"taps must be an integer in [0, {MAX_TAPS}], got {self.taps}")
        self.taps = int(self.taps)
        missing = [name for name in PARAMS if name not in p]
        if missing:
            raise PyrtrlError(f"model is missing parameter array(s): {', '.join(missing)}")
        extra = sorted(set(p) - set(PARAMS))
        if extra:
            raise PyrtrlError(f"model has unknown parameter array(s): {', '.join(extra)}")
        missing = [name for name in MASKED if name not in m]
        if missing:
            raise PyrtrlError(f"model is missing mask(s) for: {', '.join(missing)}")
        if p["b_u"].ndim != 1 or p["W_u"].ndim != 2 or p["b_o"].ndim != 1:
            raise PyrtrlError("b_u and b_o must be vectors and W_u a matrix")
        n, d, k = p["b_u"].shape[0], p["W_u"].shape[1], p["b_o"].shape[0]
        if n < 1 or d < 1 or k < 1:
            raise PyrtrlError(f"model sizes must be positive, got hidden={n} inputs={d} outputs={k}")
        want = {name: (n, d) for name in ("W_u", "W_r", "W_g")}
        want.update({name: (n, n) for name in ("R_u", "R_r", "R_g")})
        want.update({name: (n,) for name in VECTORS})
        want.update({"W_o": (k, n + self.taps * d), "b_o": (k,)})
        dtype = p["b_u"].dtype
        if dtype not in (np.float32, np.float64):
            raise PyrtrlError(f"parameters must be float32 or float64, got {dtype}")
        for name in PARAMS:
            a = p[name]
            if not isinstance(a, np.ndarray):
                raise PyrtrlError(f"parameter {name} is not an array")
            if a.shape != want[name]:
                raise PyrtrlError(f"parameter {name} has shape {a.shape}, expected {want[name]}")
            if a.dtype != dtype:
                raise PyrtrlError(f"parameter {name} has dtype {a.dtype}, expected {dtype} like b_u")
            if not np.all(np.isfinite(a)):
                raise PyrtrlError(f"parameter {name} has non-finite values")
        for name in MASKED:
            mk = m[name]
            if not isinstance(mk, np.ndarray) or mk.dtype != np.bool_:
                raise PyrtrlError(f"mask for {name} must be a boolean array")
            if mk.shape != want[name]:
                raise PyrtrlError(f"mask for {name} has shape {mk.shape}, expected {want[name]}")
            bad = int(np.count_nonzero(p[name][~mk]))
            if bad:
                raise PyrtrlError(f"parameter {name} has {bad} nonzero entries where its mask is False")
        thr = p["thr"]
        if np.any(thr < 0) or np.any(thr > 1):
            raise PyrtrlError("thresholds thr must lie in [0, 1]")
        if not (np.isfinite(self.gamma) and self.gamma > 0):
            raise PyrtrlError(f"gamma must be a positive finite number, got {self.gamma}")
        if not (np.isfinite(self.eps) and self.eps > 0):
            raise PyrtrlError(f"eps must be a positive finite number, got {self.eps}")

    # -- copies ------------------------------------------------------------------------
    def copy(self) -> "EGRU":
        """A deep copy."""
        return EGRU(
            {k: v.copy() for k, v in self.params.items()},
            {k: v.copy() for k, v in self.masks.items()},
            float(self.gamma),
            float(self.eps),
            self.readout,
            self.taps,
        )

    def astype(self, dtype: "np.typing.DTypeLike") -> "EGRU":
        """A copy with every parameter cast to ``dtype`` (float32 or float64)."""
        return EGRU(
            {k: v.astype(dtype) for k, v in self.params.items()},
            {k: v.copy() for k, v in self.masks.items()},
            float(self.gamma),
            float(self.eps),
            self.readout,
            self.taps,
        )

    def apply_masks(self) -> None:
        """Zero every pruned entry in place (after an update that may have touched them)."""
        for name in MASKED:
            self.params[name][~self.masks[name]] = 0


def random_masks(
    n: int, d: int, density: float, shared: bool = False, rng: Optional[np.random.Generator] = None
) -> Dict[str, np.ndarray]:
    """Random pruning masks keeping ``round(density * size)`` entries of each matrix.

    Parameters
    ----------
    n, d : int
        Hidden units and inputs.
    density : float
        Kept fraction in (0, 1].
    shared : bool
        One input mask and one recurrent mask shared by the three gates (thinner columns
        of the RTRL Jacobian) instead of six independent masks.
    rng : numpy Generator, optional
    """
    if not (0 < density <= 1):
        raise PyrtrlError(f"density must be in (0, 1], got {density}")
    rng = rng if rng is not None else np.random.default_rng()

    def one(shape: tuple[int, int]) -> np.ndarray:
        size = shape[0] * shape[1]
        keep = max(1, int(round(density * size)))
        flat = np.zeros(size, dtype=bool)
        flat[rng.choice(size, keep, replace=False)] = True
        return flat.reshape(shape)

    if shared:
        mw, mr = one((n, d)), one((n, n))
        return {name: (mw if name[0] == "W" else mr).copy() for name in MASKED}
    return {name: one((n, d) if name[0] == "W" else (n, n)) for name in MASKED}


def init_egru(
    hidden: int,
    inputs: int,
    outputs: int,
    density: float = 1.0,
    shared_mask: bool = False,
    gamma: float = DEFAULT_GAMMA,
    eps: float = DEFAULT_EPS,
    seed: Optional[int] = None,
    dtype: "np.typing.DTypeLike" = np.float64,
    thr_mean: float = 0.3,
    readout: str = "y",
    taps: int = 0,
) -> EGRU:
    """A freshly initialised EGRU with random masks at ``density``.

    Xavier-normal weights scaled by ``1/sqrt(density)`` so that sparse nets do not fall
    silent, zero biases, thresholds drawn from Beta(3, 7 * ...) with mean ``thr_mean``
    and clamped to [0, 1] (DESIGN, "init for sparse nets"). The readout's state columns
    are Xavier-normal, its input-tap columns zero.

    Examples
    --------
    >>> m = init_egru(16, 2, 1, density=0.5, shared_mask=True, seed=0)
    >>> m.n, m.d, m.k, m.shared_mask
    (16, 2, 1, True)
    """
    for label, v in (("hidden", hidden), ("inputs", inputs), ("outputs", outputs)):
        if int(v) != v or v < 1:
            raise PyrtrlError(f"{label} must be a positive integer, got {v}")
    if not (0 < thr_mean < 1):
        raise PyrtrlError(f"thr_mean must be in (0, 1), got {thr_mean}")
    rng = np.random.default_rng(seed)
    n, d, k = int(hidden), int(inputs), int(outputs)
    masks = random_masks(n, d, density, shared_mask, rng)
    scale = 1.0 / np.sqrt(density)

    def xavier(rows: int, cols: int) -> np.ndarray:
        return rng.normal(0.0, np.sqrt(2.0 / (rows + cols)), size=(rows, cols))

    p: Dict[str, np.ndarray] = {}
    for name in MASKED:
        shape = (n, d) if name[0] == "W" else (n, n)
        p[name] = xavier(*shape) * scale * masks[name]
    for name in ("b_u", "b_r", "b_g", "b_rg"):
        p[name] = np.zeros(n)
    a = 3.0
    p["thr"] = np.clip(rng.beta(a, a * (1 - thr_mean) / thr_mean, size=n), 0.0, 1.0)
    if int(taps) != taps or not (0 <= taps <= MAX_TAPS):
        raise PyrtrlError(f"taps must be an integer in [0, {MAX_TAPS}], got {taps}")
    p["W_o"] = np.concatenate([xavier(k, n), np.zeros((k, int(taps) * d))], axis=1)
    p["b_o"] = np.zeros(k)
    p = {name: p[name].astype(dtype) for name in PARAMS}
    return EGRU(p, masks, float(gamma), float(eps), readout, int(taps))


def prune_magnitude(model: EGRU, density: float, shared: Optional[bool] = None) -> EGRU:
    """A copy of ``model`` keeping the largest-magnitude ``density`` of each masked matrix.

    Only entries that are currently unmasked can be kept, so pruning never revives a weight.

    Parameters
    ----------
    density : float
        Target kept fraction of each matrix, in (0, 1].
    shared : bool, optional
        Rank by the summed magnitude of the three gates and keep one shared mask per kind
        (input, recurrent). Defaults to whether ``model`` already shares its masks.
    """
    if not (0 < density <= 1):
        raise PyrtrlError(f"density must be in (0, 1], got {density}")
    shared = model.shared_mask if shared is None else shared
    out = model.copy()

    def top(score: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        keep = max(1, int(round(density * score.size)))
        score = np.where(allowed, score, -np.inf).ravel()
        order = np.argsort(-score, kind="stable")[:keep]
        mask = np.zeros(score.size, dtype=bool)
        mask[order] = True
        return mask.reshape(allowed.shape) & allowed

    for kind in ("W", "R"):
        names = [f"{kind}_{g}" for g in GATES]
        if shared:
            score = sum(np.abs(model.params[nm]).astype(np.float64) for nm in names)
            allowed = np.logical_or.reduce([model.masks[nm] for nm in names])
            mask = top(score, allowed)
            for nm in names:
                out.masks[nm] = mask.copy()
        else:
            for nm in names:
                out.masks[nm] = top(np.abs(model.params[nm]).astype(np.float64), model.masks[nm])
    out.apply_masks()
    out.validate()
    return out
