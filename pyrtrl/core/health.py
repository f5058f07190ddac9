"""Whether a learning run did its job: divergence and saturation are never silent.

:func:`assess` turns a run's end-of-stream error (as a fraction of the naive forecaster's)
and its saturation count into a status and one-line messages, which the progress bar, the
text summary, ``--json`` (``health``) and ``report.md`` all show.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

#: error over the last 20 % beyond this multiple of the naive forecaster's: diverged
DIVERGED_RATIO = 4.0


def assess(ratio_last: Optional[float], saturations: int = 0, steps: int = 0) -> Dict[str, Any]:
    """``{"status": "ok" | "warning" | "diverged", "messages": [...]}``.

    Parameters
    ----------
    ratio_last : float or None
        The learner's MSE over the last 20 % divided by the naive forecaster's (None: not a
        forecasting run, or no forecast had a truth).
    saturations : int
        Values the fixed-point learner clamped to their type or documented limit.
    steps : int
        Steps run (for the saturations per step).
    """
    messages: List[str] = []
    status = "ok"
    if ratio_last is not None and not math.isfinite(ratio_last):
        status = "diverged"
        messages.append("the learner's error is not finite: it diverged")
    elif ratio_last is not None and ratio_last > DIVERGED_RATIO:
        status = "diverged"
        messages.append(f"the learner's error over the last 20 % is {ratio_last:.3g}x the naive "
                        f"forecaster's: it diverged (try a smaller --lr)")
    elif ratio_last is not None and ratio_last > 1.0:
        status = "warning"
        messages.append(f"the learner ends worse than repeating the last sample "
                        f"({ratio_last:.3g}x the naive forecaster's error)")
    if saturations:
        if status == "ok":
            status = "warning"
        per = f", {saturations / steps:.2g} per step" if steps else ""
        messages.append(f"{saturations} values saturated in fixed point{per}: weights or the "
                        f"influence matrix sit on their rails (docs/numerics.md)")
    return {"status": status, "messages": messages}
