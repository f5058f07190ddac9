"""pyrtrl: exact online learning for event-based GRUs on microcontrollers.

The float reference lives here: the EGRU model (:class:`EGRU`), model files
(:func:`save_model`, :func:`load_model`), gradients by BPTT, dense RTRL and sparse RTRL
(:func:`gradients`), and the online learner (:class:`OnlineLearner`).

:func:`open_target` (:mod:`pyrtrl.runs.target`) gives the same learner on the C library, a board
under QEMU or a real board; ``CLearner`` is the C library's binding (:mod:`pyrtrl.deploy.runtime`).
Both load on first use: importing ``pyrtrl`` does not load the compiled library.
"""

from .errors import PyrtrlError
from .core.model import CELL, MASKED, PARAMS, READOUT, EGRU, init_egru, prune_magnitude, random_masks
from .core.gradients import METHODS, gradients, make_engine
from .core.model_file import load_model, save_model
from .core.learner import OnlineLearner, RunResult, StepResult

__version__ = "0.1.0"

__all__ = [
    "CELL", "EGRU", "MASKED", "METHODS", "PARAMS", "READOUT", "PyrtrlError", "__version__",
    "gradients", "init_egru", "make_engine", "prune_magnitude", "random_masks",
    "load_model", "save_model", "OnlineLearner", "RunResult", "StepResult", "open_target",
    "CLearner",
]


def __getattr__(name: str):  # PEP 562: the deployment side loads when first asked for
    if name == "open_target":
        from .runs.target import open_target

        return open_target
    if name == "CLearner":
        from .deploy.runtime import CLearner

        return CLearner
    raise AttributeError(f"module 'pyrtrl' has no attribute {name!r}")
