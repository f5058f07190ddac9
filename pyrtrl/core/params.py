"""Flat indexing of the cell parameters: the columns of the RTRL influence matrix.

Column order: the unmasked entries of W_u, W_r, W_g, R_u, R_r, R_g (row-major), then
b_u, b_r, b_g, b_rg, thr. Every column p belongs to one unit ``row[p]`` (the unit whose
state it touches directly) and one source ``col[p]`` (input index for W, presynaptic unit
for R, the unit itself for vectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from .model import CELL, MASKED, EGRU


@dataclass(frozen=True)
class Group:
    """The columns of one named parameter array."""

    name: str
    offset: int
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple

    @property
    def size(self) -> int:
        return int(self.rows.size)

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.offset, self.offset + self.size)


class ParamIndex:
    """Maps between named cell parameters and flat influence-matrix columns."""

    def __init__(self, model: EGRU) -> None:
        self.n = model.n
        self.groups: Dict[str, Group] = {}
        off = 0
        for name in CELL:
            if name in MASKED:
                rows, cols = np.nonzero(model.masks[name])
                shape = model.masks[name].shape
            else:
                rows = cols = np.arange(model.n)
                shape = (model.n,)
            self.groups[name] = Group(name, off, rows.astype(np.intp), cols.astype(np.intp), shape)
            off += rows.size
        self.P = off
        self.row = np.concatenate([g.rows for g in self.groups.values()])

    def to_dict(self, flat: np.ndarray) -> Dict[str, np.ndarray]:
        """Scatter a length-P vector into arrays shaped like the parameters (pruned = 0)."""
        out: Dict[str, np.ndarray] = {}
        for name, g in self.groups.items():
            a = np.zeros(g.shape, dtype=flat.dtype)
            block = flat[g.offset:g.offset + g.size]
            if name in MASKED:
                a[g.rows, g.cols] = block
            else:
                a[:] = block
            out[name] = a
        return out

    def from_dict(self, arrays: Dict[str, np.ndarray]) -> np.ndarray:
        """Gather the unmasked entries of named arrays into a length-P vector."""
        parts: List[np.ndarray] = []
        for name, g in self.groups.items():
            a = arrays[name]
            parts.append(a[g.rows, g.cols] if name in MASKED else a)
        return np.concatenate(parts)
