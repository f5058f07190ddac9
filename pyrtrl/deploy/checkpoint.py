"""Weights checkpoints that know their model.

A checkpoint is an ``.npz`` holding a device's weights image (:class:`Deployment`'s layout:
theta, W_o of k x features, b_o), the step it was taken after, the model's sizes and readout
width, the model's :func:`~pyrtrl.deploy.deployment.model_structure_hash` and the image's
SHA-256. :func:`load_checkpoint` refuses, in one line, another model's checkpoint (even one
of the same sizes with other masks) and an empty, cut or damaged file.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Tuple, Union

import numpy as np

from ..core.model import EGRU
from ..errors import PyrtrlError
from .deployment import Deployment

#: the file name a run gives its checkpoint, in its run directory
CHECKPOINT = "checkpoint.npz"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(path: Union[str, Path], image: bytes, step: int,
                    model: Union[Deployment, EGRU]) -> None:
    """Write a weights checkpoint atomically: a temporary file in the same directory,
    fsync, rename (a failed write leaves the previous checkpoint, and no temporary file).

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    image : bytes
        The weights image after ``step`` steps (a device's DUMP).
    step : int
        Steps learned before the image was taken.
    model : Deployment or EGRU
        The model the image belongs to (an EGRU is quantized here; a run passes its
        Deployment).

    Raises
    ------
    PyrtrlError
        The image's size is not the model's (one line).
    OSError
        The file could not be written (e.g. a full disk).
    """
    dep = Deployment.of(model)
    dep.split_image(image)  # one-line error for an image of another size
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, image=np.frombuffer(bytes(image), dtype=np.uint8), step=np.int64(step),
                     shape=np.array([dep.n, dep.d, dep.k], dtype=np.int64),
                     features=np.int64(dep.features), structure=np.array(dep.structure_hash),
                     image_sha256=np.array(_sha256(bytes(image))))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Union[str, Path], model: Union[Deployment, EGRU]) -> Tuple[bytes, int]:
    """(image bytes, step) of a checkpoint written by :func:`save_checkpoint`, checked
    against ``model`` and against its own image hash.

    Parameters
    ----------
    path : str or Path
        The checkpoint file.
    model : Deployment or EGRU
        The model to resume (an EGRU is quantized here).

    Returns
    -------
    tuple of (bytes, int)
        The weights image and the step it was taken after.

    Raises
    ------
    PyrtrlError
        One line: not a checkpoint (an empty, cut or corrupted file), a damaged image (its
        SHA-256 differs), a checkpoint of other sizes, readout features or image size, or of
        another model of the same sizes (the structure hash: masks, readout, eps differ).
        Checkpoints written before these fields existed are checked by what they carry.
    """
    dep = Deployment.of(model)
    try:
        with np.load(path, allow_pickle=False) as z:
            image, step, shape = z["image"], int(z["step"]), tuple(int(v) for v in z["shape"])
            features = int(z["features"]) if "features" in z.files else dep.features
            structure = str(z["structure"]) if "structure" in z.files else None
            digest = str(z["image_sha256"]) if "image_sha256" in z.files else None
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise PyrtrlError(f"{path}: not a checkpoint ({' '.join(str(e).split()) or type(e).__name__})") from None
    if digest is not None and (image.dtype != np.uint8 or _sha256(image.tobytes()) != digest):
        raise PyrtrlError(f"{path}: damaged checkpoint: its weights image does not match its SHA-256")
    want = dep.image_bytes
    n, d, k = dep.n, dep.d, dep.k
    if (image.dtype != np.uint8 or shape != (n, d, k) or features != dep.features
            or image.size != want or step < 0):
        raise PyrtrlError(f"{path}: checkpoint of a {shape} model with {features} readout features and "
                          f"{image.size} bytes at step {step}, expected ({n}, {d}, {k}), "
                          f"{dep.features} features and {want} bytes")
    if structure is not None and structure != dep.structure_hash:
        raise PyrtrlError(f"{path}: checkpoint of another model of the same sizes (its masks, readout "
                          f"or eps differ: structure {structure[:12]}, this model's "
                          f"{dep.structure_hash[:12]})")
    return image.tobytes(), step
