"""What a float model becomes on a target, made once: the :class:`Deployment`.

A :class:`Deployment` quantizes an :class:`~pyrtrl.core.model.EGRU` once (it is the only
caller of :func:`pyrtrl.fixed.quantize.quantize` outside :mod:`pyrtrl.fixed`) and owns
everything that follows from the quantized model:

* the **weights image**, the bytes a device's DUMP sends and its LOAD expects (and a
  checkpoint stores): theta (P cell parameters), W_o (k x features, row-major), b_o (k), all
  int32 little-endian (``rtrl_weights_image_bytes``, docs/telemetry.md): its size, its split
  into those three arrays, an image from weights and the float model an image holds;
* the **C arrays** behind an ``rtrl_model_t`` (what :class:`pyrtrl.deploy.runtime.CLearner`
  points the library at and what :func:`pyrtrl.deploy.export.export_model` writes);
* the model's **structure hash** (what an image's layout and meaning rest on);
* the **memory budget** for given learning settings (:mod:`pyrtrl.deploy.budget`);
* **checkpoints** of a weights image (:mod:`pyrtrl.deploy.checkpoint`).

A run builds one Deployment and hands the same object to the host C learner, the exporter
and the device client, so that all of them see the same integers.

>>> import pyrtrl
>>> from pyrtrl.deploy.deployment import Deployment
>>> dep = Deployment.from_model(pyrtrl.init_egru(8, 1, 1, density=0.5, seed=0))
>>> image = dep.initial_image()
>>> len(image) == dep.image_bytes
True
>>> dep.model_from_image(image).n
8
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Tuple, Union

import numpy as np

from ..core.model import EGRU
from ..errors import PyrtrlError
from ..run_defaults import INFLUENCE_BITS
from ..fixed.quantize import QuantizedModel, quantize

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .budget import Budget

#: runtime_c's "no entry" in a gate map (``U_map_*``)
ABSENT = 0xFFFF

#: version of what :func:`model_structure_hash` covers
STRUCTURE_VERSION = 1

#: the three arrays of a weights image, in their order
IMAGE_PARTS = ("theta", "w_o", "b_o")


def model_structure_hash(model: EGRU) -> str:
    """SHA-256 (hex) of what a weights image's layout and meaning rest on.

    Parameters
    ----------
    model : EGRU
        The float model (its weights do not enter the hash).

    Returns
    -------
    str
        The hash of the sizes, every mask, the readout's source and taps, eps and gamma,
        and the format version. Two models share it exactly when one's weights image can
        be loaded into the other's learner. The influence width is not part of it: the
        image is the same for both widths.
    """
    h = hashlib.sha256()
    h.update(f"pyrtrl-structure-v{STRUCTURE_VERSION} n={model.n} d={model.d} k={model.k} "
             f"readout={model.readout} taps={model.taps} eps={model.eps!r} "
             f"gamma={model.gamma!r}".encode())
    for name in sorted(model.masks):
        m = np.ascontiguousarray(model.masks[name], dtype=np.uint8)
        h.update(name.encode() + str(m.shape).encode() + m.tobytes())
    return h.hexdigest()


def shares_recurrent_pattern(q: QuantizedModel) -> bool:
    """True when R_u, R_r, R_g have the union pattern (runtime_c then needs no gate maps)."""
    return all(q.patterns[f"R_{g}"].nnz == q.union.nnz for g in ("u", "r", "g"))


def c_model_arrays(q: QuantizedModel) -> Dict[str, np.ndarray]:
    """The numpy arrays behind an ``rtrl_model_t`` (also what the exporter writes).

    Parameters
    ----------
    q : QuantizedModel
        The quantized model.

    Returns
    -------
    dict of str to numpy.ndarray
        Fresh arrays: per gate ``{W,R}_{u,r,g}_{colptr,rowidx}`` (uint16), ``U_colptr``,
        ``U_rowidx``, the gate maps ``U_map_{u,r,g}`` unless the gates share the union
        pattern, and ``theta``, ``w_o``, ``b_o`` (int32).
    """
    arr: Dict[str, np.ndarray] = {}
    for kind in ("W", "R"):
        for g in ("u", "r", "g"):
            pat = q.patterns[f"{kind}_{g}"]
            arr[f"{kind}_{g}_colptr"] = pat.colptr.astype(np.uint16)
            arr[f"{kind}_{g}_rowidx"] = pat.rowidx.astype(np.uint16)
    arr["U_colptr"] = q.union.colptr.astype(np.uint16)
    arr["U_rowidx"] = q.union.rowidx.astype(np.uint16)
    if not shares_recurrent_pattern(q):
        for gi, g in enumerate(("u", "r", "g")):
            m = q.gate_map[gi]
            arr[f"U_map_{g}"] = np.where(m < 0, ABSENT, m).astype(np.uint16)
    arr["theta"] = q.theta.astype(np.int32)
    arr["w_o"] = np.ascontiguousarray(q.w_o.astype(np.int32))
    arr["b_o"] = q.b_o.astype(np.int32)
    return arr


@dataclass(frozen=True, eq=False)
class Deployment:
    """A float model quantized once, with the weights image's layout, the C arrays, the
    structure hash, the budget and checkpoints that follow from it.

    Make one with :meth:`from_model` (or :meth:`of`, which passes a Deployment through).
    Neither field is to be changed after that: every learner, export and device client
    made from this Deployment reads them.

    Attributes
    ----------
    template : EGRU
        A copy of the float model it was made from (masks, gamma, eps, readout, taps; its
        weights are the initial ones).
    quantized : QuantizedModel
        The integer model runtime_c runs on (:func:`pyrtrl.fixed.quantize.quantize`).
    """

    template: EGRU
    quantized: QuantizedModel

    # -- making one --------------------------------------------------------------------
    @classmethod
    def from_model(cls, model: EGRU) -> "Deployment":
        """Quantize ``model`` (a copy is kept as the template).

        Raises
        ------
        PyrtrlError
            The model cannot be represented (sizes over runtime_c's limits, weights beyond
            Q7.24, gamma / eps not representable): one line.
        """
        if not isinstance(model, EGRU):
            raise PyrtrlError(f"a Deployment is made from an EGRU, got {type(model).__name__}")
        return cls(model.copy(), quantize(model))

    @classmethod
    def of(cls, model: "Union[EGRU, Deployment]") -> "Deployment":
        """``model`` itself if it is a Deployment, else :meth:`from_model` of it."""
        return model if isinstance(model, Deployment) else cls.from_model(model)

    # -- sizes -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Hidden units."""
        return self.quantized.n

    @property
    def d(self) -> int:
        """Inputs."""
        return self.quantized.d

    @property
    def k(self) -> int:
        """Outputs."""
        return self.quantized.k

    @property
    def params(self) -> int:
        """P, the cell parameters (theta's length)."""
        return self.quantized.P

    @property
    def features(self) -> int:
        """The readout's columns: n + taps x d."""
        return self.quantized.features

    # -- the weights image -------------------------------------------------------------
    @property
    def image_counts(self) -> Tuple[int, int, int]:
        """int32 values of theta, W_o and b_o in a weights image: (P, k x features, k)."""
        q = self.quantized
        return q.P, q.k * q.features, q.k

    @property
    def image_bytes(self) -> int:
        """Bytes of a weights image (``rtrl_weights_image_bytes``)."""
        return 4 * sum(self.image_counts)

    def image_layout(self) -> Dict[str, Tuple[int, int]]:
        """Byte offset and byte length of each array in a weights image, in order."""
        out: Dict[str, Tuple[int, int]] = {}
        pos = 0
        for name, count in zip(IMAGE_PARTS, self.image_counts):
            out[name] = (pos, 4 * count)
            pos += 4 * count
        return out

    def split_image(self, image: bytes) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(theta, W_o (k x features), b_o) as int64 from a weights image of this model.

        Raises
        ------
        PyrtrlError
            The image's size is not this model's (one line).
        """
        q = self.quantized
        if len(image) != self.image_bytes:
            raise PyrtrlError(f"weights image has {len(image)} bytes, the model's has {self.image_bytes} "
                              f"(P={q.P}, k={q.k}, features={q.features})")
        v = np.frombuffer(bytes(image), "<i4").astype(np.int64)
        wo_end = q.P + q.k * q.features
        return v[:q.P], v[q.P:wo_end].reshape(q.k, q.features), v[wo_end:]

    def image(self, theta: np.ndarray, w_o: np.ndarray, b_o: np.ndarray) -> bytes:
        """The weights image of Q24 weights (the layout of :meth:`split_image`).

        Raises
        ------
        PyrtrlError
            An array's size is not this model's, or a value is outside int32 (one line).
        """
        arrs = [np.asarray(a).ravel() for a in (theta, w_o, b_o)]
        got = tuple(int(a.size) for a in arrs)
        if got != self.image_counts:
            raise PyrtrlError(f"weights have {got} values (theta, W_o, b_o), the model's image "
                              f"has {self.image_counts}")
        for name, a in zip(IMAGE_PARTS, arrs):
            if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
                raise PyrtrlError(f"weights {name} has values outside int32")
        return b"".join(a.astype("<i4").tobytes() for a in arrs)

    def initial_image(self) -> bytes:
        """The weights image of the model as quantized (its initial weights)."""
        q = self.quantized
        return self.image(q.theta, q.w_o, q.b_o)

    def with_weights(self, theta: np.ndarray, w_o: np.ndarray, b_o: np.ndarray) -> QuantizedModel:
        """The quantized model with these Q24 weights (patterns and constants unchanged)."""
        q = self.quantized
        theta, w_o, b_o = self.split_image(self.image(theta, w_o, b_o))
        return QuantizedModel(**{**q.__dict__, "theta": theta, "w_o": w_o, "b_o": b_o})

    def model_from_weights(self, theta: np.ndarray, w_o: np.ndarray, b_o: np.ndarray) -> EGRU:
        """The float model whose Q24 weights these are (masks, gamma, eps, readout and taps
        of the template)."""
        return self.with_weights(theta, w_o, b_o).to_float(self.template)

    def model_from_image(self, image: bytes) -> EGRU:
        """The float model whose Q24 weights are the weights image ``image``.

        Raises
        ------
        PyrtrlError
            The image's size is not this model's (one line).
        """
        return self.model_from_weights(*self.split_image(image))

    # -- C, hash, budget ---------------------------------------------------------------
    def c_arrays(self) -> Dict[str, np.ndarray]:
        """Fresh arrays behind an ``rtrl_model_t`` (:func:`c_model_arrays`)."""
        return c_model_arrays(self.quantized)

    @property
    def shares_recurrent_pattern(self) -> bool:
        """True when the gates share the union pattern (no gate maps in C)."""
        return shares_recurrent_pattern(self.quantized)

    @cached_property
    def structure_hash(self) -> str:
        """:func:`model_structure_hash` of the template."""
        return model_structure_hash(self.template)

    def budget(self, influence_bits: int = INFLUENCE_BITS, *, readout_rule: str = "gradient", horizon: int = 1,
               optimizer: str = "sgd", chunk: "int | None" = None) -> "Budget":
        """RAM and flash of this model's learner (:func:`pyrtrl.deploy.budget.budget_for_model`)
        for these learning settings; ``chunk`` defaults to the firmware's RTRL_CHUNK."""
        from .budget import CHUNK, budget_for_model

        return budget_for_model(self.template, influence_bits, CHUNK if chunk is None else chunk,
                                readout_rule=readout_rule, horizon=horizon, optimizer=optimizer)

    # -- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, path: "str | Path", image: bytes, step: int) -> None:
        """:func:`pyrtrl.deploy.checkpoint.save_checkpoint` for this model."""
        from .checkpoint import save_checkpoint

        save_checkpoint(Path(path), image, step, self)

    def load_checkpoint(self, path: "str | Path") -> Tuple[bytes, int]:
        """:func:`pyrtrl.deploy.checkpoint.load_checkpoint` for this model."""
        from .checkpoint import load_checkpoint

        return load_checkpoint(path, self)
