"""The room a trained cell has: how far below the frozen learner any forecaster we fit gets.

docs/quality.md's "RTRL gain" compares the learner with the same model whose cell is frozen
(``--train readout``: a random reservoir with a least-squares readout over its state and
the input taps). A gain of 15 % needs a forecast 15 % better than that. Whether any model
can give one on a stream is measured here, on the same streams, targets and scoring:
online RLS over a fixed nonlinear expansion of the last p samples (random Fourier features
``cos(W x + b)`` beside the samples themselves, the kernel-regression approximation), next
to the linear baselines and every learner of the horizon table. If the best of all of them
is within 15 % of the frozen learner, no trained cell that we know how to measure would
make the bar on that stream.

Online, like the learner: each target is learned when it arrives and the forecast made
before is scored (``score`` of :mod:`pyrtrl.benchmarks.quality`).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.baselines import rls_features_forecast

#: the expansions: past samples p and the width of the random features in units of the
#: signal's spread over its first 10 % (1: features that bend within the signal's range;
#: 3: gentler ones, closer to linear)
ORDERS = (16, 32)
SCALES = (1.0, 3.0)
FEATURES = 200
FORGETTING = 0.999
P0 = 1.0
#: the gain the issue asks of exact RTRL over the frozen cell
BAR = 0.15


def lag_matrix(s: np.ndarray, p: int) -> np.ndarray:
    """Row t: s[t], s[t-1], ..., s[t-p+1] (the first sample repeated before the start)."""
    T = s.size
    return np.stack([np.concatenate([np.full(k, s[0]), s[:T - k]]) for k in range(p)], axis=1)


def rff_features(s: np.ndarray, p: int, scale: float, features: int = FEATURES,
                 seed: int = 0) -> np.ndarray:
    """``[cos(X W + b), X, 1]`` with X = :func:`lag_matrix` and W ~ N(0, 1 / (scale sd sqrt p)),
    sd the spread of the stream's first 10 % (all a causal learner could know at the start)."""
    X = lag_matrix(s, p)
    sd = float(np.std(s[:max(2, s.size // 10)])) or 1.0
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, 1.0 / (scale * sd * np.sqrt(p)), (p, features))
    b = rng.uniform(0.0, 2 * np.pi, features)
    return np.hstack([np.cos(X @ W + b), X, np.ones((s.size, 1))])


def rls_online(F: np.ndarray, s: np.ndarray, horizon: int, forgetting: float = FORGETTING,
               p0: float = P0) -> np.ndarray:
    """Online RLS forecasts of ``s[t+H]`` from the features ``F[t]``: at t the target s[t]
    that arrived is learned (features ``F[t-H]``) before the forecast, as the learner does
    (:func:`pyrtrl.core.baselines.rls_features_forecast`, the RLS baseline's own update)."""
    return rls_features_forecast(F, s, horizon, forgetting, p0)


def _one(job: Tuple[str, int, int, float, Optional[int]]) -> Dict[str, Any]:
    from ..data.signals import load_signal
    from .quality import score

    signal, horizon, p, scale, max_samples = job
    s = np.asarray(load_signal(signal, max_samples).values, dtype=np.float64)
    ratio = score(s, rls_online(rff_features(s, p, scale), s, horizon), horizon)
    return {"signal": signal, "horizon": horizon, "order": p, "scale": scale, "ratio": ratio}


def measure(signals: Sequence[str], horizons: Sequence[int], max_samples: Optional[int] = None,
            workers: int = 2) -> List[Dict[str, Any]]:
    """Every random-feature RLS forecaster on every (signal, horizon): ratios to naive."""
    jobs = [(sig, h, p, sc, max_samples) for sig in signals for h in horizons
            for p in ORDERS for sc in SCALES]
    if workers <= 1:
        return [_one(j) for j in jobs]
    with ProcessPoolExecutor(workers) as ex:
        return list(ex.map(_one, jobs))


def _seed_means(res: Dict[str, Any], signal: str, horizon: int) -> List[Tuple[str, float]]:
    """The seeds table's trained learners, each configuration's mean over the seeds."""
    groups: Dict[Tuple[Any, ...], List[float]] = {}
    for r in res.get("seeds", []):
        if r["signal"] == signal and r["horizon"] == horizon and r["train"] == "all":
            key = (r["optimizer"], r["lr"], r["taps"], r["density"], r["eps"])
            groups.setdefault(key, []).append(r["ratio"])
    return [(f"learner {o} lr {lr:g}, {t} taps, density {dn:g} (mean of {len(v)} seeds)",
             float(np.mean(v))) for (o, lr, t, dn, ep), v in groups.items()]


def rows(res: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Per (signal, horizon) of the horizon table: the frozen default learner, the trained
    one, and the best forecaster of every kind measured (name, ratio), with the room
    ``1 - best / frozen``."""
    from .quality import pick_run

    D = res["defaults"]
    out = []
    for key, b in res["baselines"].items():
        if key.count("/") != 1:
            continue
        sig, h = key.split("/")[0], int(key.split("/")[1])
        same = dict(signal=sig, horizon=h, density=D["DENSITY"], eps=D["EPS"])
        try:
            frozen = pick_run(res["horizons"], train="readout", optimizer=D["OPTIMIZER"], **same)
            full = pick_run(res["horizons"], train="all", optimizer=D["OPTIMIZER"], **same)
        except KeyError:
            continue
        chosen = b["rls"].get("chosen")
        p = chosen.get("order", "p") if isinstance(chosen, dict) else chosen
        cands = [("NLMS AR(16)", b["nlms"]["ratio"]), (f"RLS AR({p})", b["rls"]["ratio"])]
        cands += [(f"RFF-RLS p={r['order']} scale {r['scale']:g}", r["ratio"])
                  for r in res.get("headroom", []) if r["signal"] == sig and r["horizon"] == h]
        cands += [(f"learner {r['optimizer']}{' frozen' if r['train'] == 'readout' else ''}, "
                   f"density {r['density']:g}", r["ratio"])
                  for r in res["horizons"] if r["signal"] == sig and r["horizon"] == h]
        cands += _seed_means(res, sig, h)
        name, best = min(cands, key=lambda c: c[1])
        out.append({"signal": sig, "horizon": h, "frozen": frozen["ratio"], "learner": full["ratio"],
                    "needed": (1 - BAR) * frozen["ratio"], "best": best, "best_name": name,
                    "rff_best": min((r["ratio"] for r in res.get("headroom", [])
                                     if r["signal"] == sig and r["horizon"] == h), default=None),
                    "room": 1 - best / frozen["ratio"]})
    return out


def table(res: Dict[str, Any]) -> Tuple[List[str], List[List[str]]]:
    """docs/quality.md's headroom table."""
    head = ["signal", "H", "cell frozen", "learner", f"needed for {100 * BAR:.0f} %",
            "random features + RLS (best)", "best of all measured", "room"]
    body = []
    for r in rows(res):
        rff = "-" if r["rff_best"] is None else f"{r['rff_best']:.3f}"
        body.append([r["signal"], str(r["horizon"]), f"{r['frozen']:.3f}", f"{r['learner']:.3f}",
                     f"{r['needed']:.3f}", rff, f"{r['best']:.3f} ({r['best_name']})",
                     f"{100 * r['room']:+.0f} %"])
    return head, body


def reading(res: Dict[str, Any]) -> str:
    """The headroom table's reading, for docs/quality.md's "Reading it" (from the numbers)."""
    by = {(r["signal"], r["horizon"]): r for r in rows(res)}
    short = [f"{s} at H = {h} ({100 * r['room']:+.0f} %, {r['best_name']})"
             for (s, h), r in sorted(by.items()) if r["room"] < BAR]
    if not short:
        return ("- Every stream of the headroom table has a forecaster at least "
                f"{100 * BAR:.0f} % below the frozen learner: the bar is reachable everywhere.")
    text = ("- The headroom table bounds the RTRL gain: on " + "; ".join(short) + " the best "
            f"forecaster of any kind we measured is less than {100 * BAR:.0f} % below the frozen "
            "learner, so a trained cell making the bar there would have to beat every forecaster "
            "we have, linear or not, by a margin none of them shows.")
    main = by.get(("ppg", 1))
    if main is not None and main["room"] < BAR:
        text += (f" That includes the main job's task (ppg, H = 1: frozen {main['frozen']:.3f}, "
                 f"needed {main['needed']:.3f}, best {main['best']:.3f}).")
    return text
