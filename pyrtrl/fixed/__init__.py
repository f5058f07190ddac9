"""Fixed-point model of runtime_c in numpy integers (the executable specification)."""

from .arith import FRAC, MFRAC, ONE, WFRAC, from_fixed, rnd, sigmoid_q, tanh_q, to_fixed
from .model import FixedConfig, FixedCounters, FixedLearner, fixed_config, lr_fixed
from .quantize import QuantizedModel, quantize, quantize_samples

__all__ = ["FRAC", "MFRAC", "ONE", "WFRAC", "FixedConfig", "FixedCounters", "FixedLearner",
           "QuantizedModel", "fixed_config", "from_fixed", "lr_fixed", "quantize", "quantize_samples", "rnd",
           "sigmoid_q", "tanh_q", "to_fixed"]
