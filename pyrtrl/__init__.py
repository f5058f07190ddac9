"""pyrtrl: exact online learning for event-based GRUs on microcontrollers.

The float reference lives here: the EGRU model (:class:`EGRU`), model files
(:func:`save_model`, :func:`load_model`), gradients by BPTT, dense RTRL and sparse RTRL
(:func:`gradients`), and the online learner (:class:`OnlineLearner`).
"""

from .errors import PyrtrlError
from .model import CELL, MASKED, PARAMS, READOUT, EGRU, init_egru, prune_magnitude, random_masks
from .gradients import METHODS, gradients, make_engine
from .model_file import load_model, save_model
from .learner import OnlineLearner, RunResult, StepResult

__version__ = "0.1.0"

__all__ = [
    "CELL", "EGRU", "MASKED", "METHODS", "PARAMS", "READOUT", "PyrtrlError", "__version__",
    "gradients", "init_egru", "make_engine", "prune_magnitude", "random_masks",
    "load_model", "save_model", "OnlineLearner", "RunResult", "StepResult",
]
