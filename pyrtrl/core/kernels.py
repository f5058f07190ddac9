"""The sparse engine's two hot loops, in compiled C when built, in numpy otherwise.

Both implementations perform the same multiply-adds in the same order per element, so the
results agree to rounding; tests check them against each other. The C kernels are built by
``pip install`` (cffi); without them (a source checkout on PYTHONPATH) the numpy versions
run, slower because of per-call and strided-pass costs.
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - which branch runs depends on the install
    from .._kernels_c import ffi as _ffi, lib as _lib

    HAVE_C_KERNELS = True
except ImportError:  # pragma: no cover
    _ffi = _lib = None
    HAVE_C_KERNELS = False

_CHUNK = 256
_CTYPE = {np.dtype(np.float64): ("double", "f64"), np.dtype(np.float32): ("float", "f32")}


def _ptr(a: np.ndarray, ctype: str):
    return _ffi.cast(ctype + " *", _ffi.from_buffer(a))


def influence_update(M: np.ndarray, L: int, dvec: np.ndarray, act: np.ndarray,
                     indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                     use_c: bool = True) -> None:
    """In place: M[:, :L] = diag(dvec) M[:, :L] + S M[act, :L], S given in CSR (n x len(act)).

    ``indptr``, ``indices`` and ``act`` are int32; ``M`` is C-contiguous; ``dvec`` and
    ``data`` have M's dtype. (n + nnz(S)) * L multiply-adds.
    """
    n = M.shape[0]
    if use_c and HAVE_C_KERNELS and M.dtype in _CTYPE:
        ctype, suf = _CTYPE[M.dtype]
        scratch = np.empty(max(act.size, 1) * _CHUNK, dtype=M.dtype)
        getattr(_lib, f"pyrtrl_influence_update_{suf}")(
            n, L, M.shape[1], _ptr(M, ctype), _ptr(dvec, ctype), act.size, _ptr(act, "int"),
            _ptr(indptr, "int"), _ptr(indices, "int"), _ptr(data, ctype), _ptr(scratch, ctype),
            _CHUNK)
        return
    import scipy.sparse as sp

    G = M[act, :L]
    Mv = M[:, :L]
    Mv *= dvec[:, None]
    if data.size:
        Mv += sp.csr_matrix((data, indices, indptr), shape=(n, act.size)) @ G


def rows_combine(M: np.ndarray, L: int, rows: np.ndarray, w: np.ndarray, out: np.ndarray,
                 use_c: bool = True) -> None:
    """In place: out[:L] += w @ M[rows, :L] (``rows`` int32). len(rows) * L multiply-adds."""
    if use_c and HAVE_C_KERNELS and M.dtype in _CTYPE:
        ctype, suf = _CTYPE[M.dtype]
        getattr(_lib, f"pyrtrl_rows_combine_{suf}")(
            L, M.shape[1], _ptr(M, ctype), rows.size, _ptr(rows, "int"), _ptr(w, ctype),
            _ptr(out, ctype))
        return
    out[:L] += w @ M[rows, :L]


def masked_matvec(X: np.ndarray, cols_on: np.ndarray, colptr: np.ndarray, rowidx: np.ndarray,
                  vec: np.ndarray, out: np.ndarray, use_c: bool = True) -> None:
    """In place: out += X[:, cols_on] @ vec[cols_on] over the stored (unpruned) entries only.

    ``colptr``/``rowidx`` give X's mask in compressed-column form (int32); ``cols_on``
    (int32) lists the columns whose ``vec`` entry is nonzero. One MAC per stored entry of
    those columns.
    """
    if use_c and HAVE_C_KERNELS and X.dtype in _CTYPE:
        ctype, suf = _CTYPE[X.dtype]
        getattr(_lib, f"pyrtrl_masked_matvec_{suf}")(
            X.shape[1], _ptr(X, ctype), cols_on.size, _ptr(cols_on, "int"), _ptr(colptr, "int"),
            _ptr(rowidx, "int"), _ptr(vec, ctype), _ptr(out, ctype))
        return
    starts, ends = colptr[cols_on], colptr[cols_on + 1]
    counts = ends - starts
    if counts.sum() == 0:
        return
    # entry positions of all active columns, concatenated
    offs = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    e = np.arange(counts.sum()) + offs
    k = np.repeat(cols_on, counts)
    r = rowidx[e]
    out += np.bincount(r, weights=X[r, k] * vec[k], minlength=out.size).astype(out.dtype, copy=False)
