"""Honest online forecasting baselines: what the learner's error must be compared with.

A learned forecaster is only interesting if it beats the cheap online ones. Besides the
naive "repeat the last sample" forecaster this module has two adaptive linear
autoregressive (AR) forecasters that learn online, under the same rules as the EGRU
learner (prequential: every forecast is made before its target is seen):

- NLMS (normalized least mean squares), AR(p): O(p) per step;
- RLS (recursive least squares with exponential forgetting), AR(p): O(p^2) per step.

Timing, the same for every forecaster here. The signal is ``s[0..N-1]``; at time t the
forecaster knows ``s[0..t]`` and forecasts ``s[t+H]`` (horizon ``H >= 1``). The regressor
is ``phi_t = [s_t, s_{t-1}, ..., s_{t-p+1}, 1]`` (zeros before the start of the signal).
At time t the target ``s_t`` of the forecast made at ``t-H`` arrives and is learned
(regressor ``phi_{t-H}``), and the forecast ``w . phi_t`` of ``s[t+H]`` is made:

- ``learn_first=True`` (the default, used by :func:`forecast_baselines` and the reports):
  learn, then forecast. This is the EGRU learner's timing: its update from the target
  ``s_{t+1}`` of step t comes before its forecast at step t+1, so the baselines get the
  same information as the learner at every forecast.
- ``learn_first=False``: forecast, then learn, so each forecast uses weights one update
  older: a slightly weaker baseline (NLMS on the bundled PPG at H = 1: 0.41 of naive's
  error instead of 0.38; RLS barely moves).

Either way the forecast made at t uses only ``s[0..t]``; ``tests/core/test_baselines.py``
checks it by perturbing future samples.

The forecasters return the forecasts that have a target, ``pred[t]`` for
``t = 0 .. N-H-1``, aligned with ``s[H:]``.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..checks import check_float, check_int
from ..errors import PyrtrlError

#: NLMS step sizes tried by :func:`forecast_baselines` (AR order :data:`NLMS_ORDER`).
NLMS_MUS: Tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
#: AR order of the NLMS baseline.
NLMS_ORDER = 16
#: RLS AR orders tried by :func:`forecast_baselines`.
RLS_ORDERS: Tuple[int, ...] = (8, 16, 32)
#: RLS forgetting factor and initial inverse-correlation scale (P0 = RLS_P0 * I).
RLS_FORGETTING = 0.999
RLS_P0 = 100.0
#: NLMS regularizer: keeps the normalization finite on an all-zero regressor (the bias
#: entry 1 already keeps |phi|^2 >= 1, so it hardly matters otherwise).
NLMS_EPS = 1e-3
#: The error is scored over this final fraction of the forecasts that have a target.
LAST_FRACTION = 0.2


# -- argument checks ----------------------------------------------------------------------


def _check_signal(s: Any, horizon: Any) -> Tuple[np.ndarray, int]:
    """The signal as a float64 vector and the horizon, or a one-line PyrtrlError."""
    h = check_int("horizon", horizon, 1)
    try:
        x = np.asarray(s, dtype=np.float64)
    except (TypeError, ValueError):
        raise PyrtrlError("signal must be a one-dimensional array of numbers") from None
    if x.ndim != 1:
        raise PyrtrlError(f"signal must be one-dimensional, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise PyrtrlError(f"signal has a non-finite sample ({float(x[bad[0]])!r}) at index {int(bad[0])}")
    # at least one forecast must have a target, or there is nothing to score
    if x.size < h + 1:
        raise PyrtrlError(f"signal too short: {x.size} samples, horizon {h} needs at least {h + 1}")
    return x, h


def _regressors(s: np.ndarray, order: int) -> np.ndarray:
    """``phi_t`` for every t as rows: ``[s_t, ..., s_{t-p+1}, 1]``, zeros before the start.

    Built once for the whole signal (N x (p+1)), so the online loops only index rows:
    row t depends on ``s[0..t]`` alone, which keeps every forecaster causal.
    """
    n = s.size
    padded = np.concatenate([np.zeros(order - 1), s])
    # column j holds s_{t-j}: a strided view of the zero-padded signal, copied
    lags = np.lib.stride_tricks.sliding_window_view(padded, order)[:, ::-1]
    return np.hstack([lags, np.ones((n, 1))])


def _mse_last(pred: np.ndarray, target: np.ndarray, last: int) -> float:
    return float(np.mean((pred[-last:] - target[-last:]) ** 2))


def last_count(forecasts: int, last_fraction: float = LAST_FRACTION) -> int:
    """Scored forecasts: the final ``last_fraction`` of them, at least one (as the learner's
    `pyrtrl.reporting.common.last_steps`)."""
    return max(1, int(forecasts * last_fraction))


# -- the forecasters ----------------------------------------------------------------------
def naive_forecast(s: Any, horizon: int) -> np.ndarray:
    """The naive forecaster: the forecast of ``s[t+H]`` made at t is ``s[t]``.

    Parameters
    ----------
    s : array_like (N,)
        The signal (finite).
    horizon : int
        H >= 1.

    Returns
    -------
    ndarray (N-H,)
        ``pred[t]`` = forecast of ``s[t+H]``, for the forecasts that have a target.
    """
    x, h = _check_signal(s, horizon)
    return x[:-h].copy()


def _nlms_many(x: np.ndarray, h: int, order: int, mus: np.ndarray, learn_first: bool) -> np.ndarray:
    """NLMS AR(order) for several step sizes at once (one row of weights per mu).

    The step sizes share the regressors and the loop, so trying five costs little more than
    one: the per-step work is a few small numpy calls either way.
    """
    phi = _regressors(x, order)
    norm = NLMS_EPS + np.einsum("ij,ij->i", phi, phi)  # |phi_t|^2, once per t
    n = x.size
    w = np.zeros((mus.size, order + 1))
    pred = np.empty((mus.size, n - h))
    for t in range(n - h):
        if not learn_first:
            pred[:, t] = w @ phi[t]
        if t >= h:  # s_t, the target of the forecast made at t-H, arrives: learn it
            p_old = phi[t - h]
            e = x[t] - w @ p_old
            w += (mus * e / norm[t - h])[:, None] * p_old
        if learn_first:
            pred[:, t] = w @ phi[t]
    return pred


def nlms_forecast(s: Any, horizon: int, order: int = NLMS_ORDER, mu: float = 0.1,
                  learn_first: bool = True) -> np.ndarray:
    """Online NLMS autoregressive forecaster of ``s[t+H]``.

    At time t, the update ``w += mu e phi_{t-H} / (1e-3 + |phi_{t-H}|^2)`` with
    ``e = s_t - w . phi_{t-H}`` (the target of the forecast made at ``t-H`` has arrived)
    and the forecast ``w . phi_t`` of ``s[t+H]``, in the order ``learn_first`` says (see
    the module docstring), where ``phi_t = [s_t, ..., s_{t-p+1}, 1]`` (zeros before the
    start) and ``w`` starts at 0.

    Parameters
    ----------
    s : array_like (N,)
        The signal (finite).
    horizon : int
        H >= 1.
    order : int
        AR order p >= 1.
    mu : float
        Step size in (0, 2) (the range where NLMS is stable).
    learn_first : bool
        Learn the target that arrived at t before (default, the learner's timing) or
        after the forecast at t.

    Returns
    -------
    ndarray (N-H,)
        ``pred[t]`` = forecast of ``s[t+H]`` made at t.
    """
    x, h = _check_signal(s, horizon)
    order = check_int("order", order, 1)
    mu = check_float("mu", mu, 0.0, 2.0, low_open=True, high_open=True)
    return _nlms_many(x, h, order, np.array([mu]), bool(learn_first))[0]


def rls_forecast(s: Any, horizon: int, order: int = 16, forgetting: float = RLS_FORGETTING,
                 p0: float = RLS_P0, learn_first: bool = True) -> np.ndarray:
    """Online RLS autoregressive forecaster of ``s[t+H]`` with exponential forgetting.

    Same timing and regressor as :func:`nlms_forecast`. At time t, with ``phi = phi_{t-H}``
    and ``e = s_t - w . phi``: ``Pz = P phi``, ``k = Pz / (lam + phi . Pz)``, ``w += k e``,
    ``P = (P - k Pz^T) / lam``; and the forecast ``w . phi_t``. ``w`` starts at 0 and
    ``P`` at ``p0 * I``.

    Parameters
    ----------
    s : array_like (N,)
        The signal (finite).
    horizon : int
        H >= 1.
    order : int
        AR order p >= 1.
    forgetting : float
        lam in (0, 1]: past errors weigh lam^age, an effective memory of 1/(1-lam) steps.
    p0 : float
        Initial P = p0 I (> 0); large means a weak prior on w = 0.
    learn_first : bool
        Learn the target that arrived at t before (default, the learner's timing) or
        after the forecast at t.

    Returns
    -------
    ndarray (N-H,)
        ``pred[t]`` = forecast of ``s[t+H]`` made at t.
    """
    x, h = _check_signal(s, horizon)
    order = check_int("order", order, 1)
    lam = check_float("forgetting", forgetting, 0.0, 1.0, low_open=True, high_open=False)
    p0 = check_float("p0", p0, 0.0, math.inf, low_open=True, high_open=True)
    return rls_features_forecast(_regressors(x, order), x, h, lam, p0, learn_first)


def rls_features_forecast(F: np.ndarray, s: np.ndarray, horizon: int, forgetting: float = RLS_FORGETTING,
                          p0: float = RLS_P0, learn_first: bool = True) -> np.ndarray:
    """Online RLS forecasts of ``s[t+H]`` from any features ``F[t]`` (row t known at t), with
    :func:`rls_forecast`'s timing and update; :func:`rls_forecast` is this over the last
    samples and a 1.

    Returns
    -------
    ndarray (N-H,)
        ``pred[t]`` = forecast of ``s[t+H]`` made at t.
    """
    n, m = s.size, F.shape[1]
    w = np.zeros(m)
    P = np.eye(m) * p0
    pred = np.empty(n - horizon)
    inv_lam = 1.0 / forgetting
    for t in range(n - horizon):
        if not learn_first:
            pred[t] = w @ F[t]
        if t >= horizon:  # learn the arrived target s_t (regressor phi_{t-H})
            p_old = F[t - horizon]
            Pz = P @ p_old
            k = Pz / (forgetting + p_old @ Pz)
            w += k * (s[t] - w @ p_old)
            P -= np.outer(k, Pz)
            # P is symmetric in exact arithmetic; re-symmetrizing stops rounding from
            # building up an antisymmetric part over long streams (a standard safeguard:
            # on the bundled signals it changes no reported digit)
            P = (P + P.T) * (0.5 * inv_lam)
        if learn_first:
            pred[t] = w @ F[t]
    return pred


# -- the comparison -----------------------------------------------------------------------
def forecast_baselines(s: Any, horizon: int, last_fraction: float = LAST_FRACTION,
                       learn_first: bool = True) -> Dict[str, Any]:
    """Naive, NLMS AR(16) and RLS AR(p) on one signal, scored over the last forecasts.

    Runs the naive forecaster, NLMS AR(16) with mu in (0.01, 0.03, 0.1, 0.3, 1) and RLS AR(p)
    with p in (8, 16, 32) (forgetting 0.999, P0 = 100 I). Each is scored by its MSE over the
    last ``last_fraction`` of the N-H forecasts that have a target (at least one).

    The hyperparameter of NLMS (mu) and of RLS (p) is the best of its set *on the scored
    window itself*. That choice looks at the test data and so favours the baselines: a
    learner that beats them beats them by at least that much, i.e. the comparison is
    conservative.

    Parameters
    ----------
    s : array_like (N,)
        The signal (finite, N >= H + 1).
    horizon : int
        H >= 1: forecasts of ``s[t+H]`` made at t.
    last_fraction : float
        Fraction in (0, 1] of the forecasts scored, from the end.
    learn_first : bool
        The forecasters' timing (module docstring); the default is the learner's.

    Returns
    -------
    dict
        ``horizon``, ``forecasts`` (N-H), ``last_steps`` (scored forecasts),
        ``last_fraction``, ``learn_first``, ``target`` (``s[H:]``) and, for each of ``"naive"``, ``"nlms"``,
        ``"rls"``, a dict with ``mse_last``, ``ratio_to_naive_last`` (None when the naive
        error is 0), ``chosen`` (the hyperparameter chosen, ``{}`` for naive), the fixed
        settings, ``candidates`` (MSE of every hyperparameter tried) and ``prediction``
        (the chosen forecaster's ``pred[t]``, aligned with ``target``).
    """
    x, h = _check_signal(s, horizon)
    frac = check_float("last_fraction", last_fraction, 0.0, 1.0, low_open=True, high_open=False)
    target = x[h:]
    last = last_count(target.size, frac)

    naive = x[:-h]
    mse_naive = _mse_last(naive, target, last)

    def entry(pred: np.ndarray, chosen: Dict[str, Any], settings: Dict[str, Any],
              candidates: Dict[str, float]) -> Dict[str, Any]:
        mse = _mse_last(pred, target, last)
        return {"mse_last": mse, "ratio_to_naive_last": mse / mse_naive if mse_naive > 0 else None,
                "chosen": chosen, **settings, "candidates": candidates, "prediction": pred}

    nlms_all = _nlms_many(x, h, NLMS_ORDER, np.array(NLMS_MUS), bool(learn_first))
    nlms_mse = [_mse_last(p, target, last) for p in nlms_all]
    # a diverging step size gives inf/nan: never chosen (nan compares as not-best)
    i = int(np.nanargmin(np.where(np.isfinite(nlms_mse), nlms_mse, np.nan))) \
        if np.isfinite(nlms_mse).any() else 0
    rls_all = [rls_forecast(x, h, p, RLS_FORGETTING, RLS_P0, learn_first) for p in RLS_ORDERS]
    rls_mse = [_mse_last(p, target, last) for p in rls_all]
    j = int(np.nanargmin(np.where(np.isfinite(rls_mse), rls_mse, np.nan))) \
        if np.isfinite(rls_mse).any() else 0
    return {
        "horizon": h, "forecasts": int(target.size), "last_steps": last, "last_fraction": frac,
        "learn_first": bool(learn_first), "target": target,
        "naive": entry(naive, {}, {}, {}),
        "nlms": entry(nlms_all[i], {"mu": NLMS_MUS[i]}, {"order": NLMS_ORDER, "eps": NLMS_EPS},
                      {f"mu={mu:g}": v for mu, v in zip(NLMS_MUS, nlms_mse)}),
        "rls": entry(rls_all[j], {"order": RLS_ORDERS[j]}, {"forgetting": RLS_FORGETTING, "p0": RLS_P0},
                     {f"order={p}": v for p, v in zip(RLS_ORDERS, rls_mse)}),
    }


#: The baselines of :func:`forecast_baselines`, in table order.
BASELINES: Tuple[str, ...] = ("naive", "nlms", "rls")


def baselines_summary(res: Dict[str, Any]) -> Dict[str, Any]:
    """:func:`forecast_baselines`'s result without the arrays: the JSON of a run summary."""
    out: Dict[str, Any] = {k: res[k] for k in ("horizon", "forecasts", "last_steps", "last_fraction",
                                               "learn_first")}
    for name in BASELINES:
        out[name] = {k: v for k, v in res[name].items() if k != "prediction"}
    return out


def stream_signal(x: Any, target: Any, horizon: int = 1) -> np.ndarray:
    """The signal behind a forecasting stream: ``x`` then the last H targets.

    A run's telemetry holds ``x[t] = s_t`` and ``target[t] = s_{t+H}``, so ``s`` is ``x``
    followed by ``target[-H:]``; the baselines' forecasts are then aligned with the run's
    steps (``pred[t]`` forecasts ``target[t]``).
    """
    h = check_int("horizon", horizon, 1)
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ts = np.asarray(target, dtype=np.float64).reshape(-1)
    if xs.size != ts.size or xs.size < h:
        raise PyrtrlError(f"stream of {xs.size} inputs and {ts.size} targets does not fit horizon {h}")
    return np.concatenate([xs, ts[-h:]])


def baseline_label(name: str, entry: Dict[str, Any]) -> str:
    """A forecaster's name with its chosen hyperparameter, for tables and legends."""
    if name == "naive":
        return "naive (repeat last sample)"
    if name == "nlms":
        return f"NLMS AR({entry['order']}), mu {entry['chosen']['mu']:g}"
    return f"RLS AR({entry['chosen']['order']}), forgetting {entry['forgetting']:g}"


def baselines_table(summary: Dict[str, Any], learners: Sequence[Tuple[str, Optional[float]]]) -> List[str]:
    """The markdown lines of the table "error over the last 20 % vs baselines".

    ``learners`` are (name, MSE over the same scored window) rows put above the baselines.
    """
    naive = summary["naive"]["mse_last"]
    pct = round(100 * summary["last_fraction"])
    lines = [f"| forecaster (error over the last {pct} %, {summary['last_steps']} forecasts, "
             f"horizon {summary['horizon']}) | MSE | MSE / naive's |",
             "|---|---|---|"]
    for name, mse in learners:
        ratio = "n/a" if mse is None or not naive > 0 else f"{mse / naive:.4g}"
        lines.append(f"| {name} | {'n/a' if mse is None else f'{mse:.6g}'} | {ratio} |")
    for name in BASELINES:
        e = summary[name]
        ratio = "n/a" if e["ratio_to_naive_last"] is None else f"{e['ratio_to_naive_last']:.4g}"
        lines.append(f"| {baseline_label(name, e)} | {e['mse_last']:.6g} | {ratio} |")
    return lines



def baselines_section(summary: Dict[str, Any], learners: Sequence[Tuple[str, Optional[float]]]) -> List[str]:
    """A report's section "error over the last 20 % vs baselines" as markdown lines.

    ``summary`` is :func:`baselines_summary`; ``learners`` are (name, MSE over the same
    scored window) rows shown above the baselines, each then compared with the best
    baseline in one line.
    """
    best = min(BASELINES, key=lambda b: summary[b]["mse_last"])
    pct = round(100 * summary["last_fraction"])
    lines = [
        f"## Error over the last {pct} % vs baselines",
        "",
        "Online forecasters on the same stream, scored on the same forecasts "
        "(`pyrtrl.core.baselines`). NLMS and RLS are linear autoregressive models that learn online: "
        "each forecast is made before its target is seen"
        + (" and after learning every target already seen (the learner's timing). "
           if summary.get("learn_first", True) else ", with the weights before the latest target. ")
        + "Their hyperparameter (NLMS's step size, RLS's order) is the best of a small set *on "
        "this scored window*. That choice favours them, so the comparison is conservative: it "
        "can only make the learner look worse.",
        "",
        *baselines_table(summary, learners),
        "",
    ]
    mse_best = summary[best]["mse_last"]
    for name, mse in learners:
        if mse is not None and mse_best > 0:
            lines.append(f"- {name}: {mse / mse_best:.3g} times the error of the best baseline, "
                         f"{baseline_label(best, summary[best])}.")
    lines.append("")
    return lines

# -- classification -----------------------------------------------------------------------
def majority_class(labels_train: Any, labels_test: Any) -> float:
    """Accuracy on ``labels_test`` of always predicting the most frequent training class.

    Ties go to the smallest class label (``np.unique`` order), so the result is
    deterministic.

    Parameters
    ----------
    labels_train, labels_test : array_like (non-empty, 1-D)
        Class labels (any hashable, comparable values numpy can hold).

    Returns
    -------
    float
        Fraction of ``labels_test`` equal to the majority training class.
    """
    tr = np.asarray(labels_train).reshape(-1)
    te = np.asarray(labels_test).reshape(-1)
    if tr.size == 0 or te.size == 0:
        raise PyrtrlError("majority_class needs at least one training and one test label")
    classes, counts = np.unique(tr, return_counts=True)
    return float(np.mean(te == classes[np.argmax(counts)]))


#: L2 penalty of :func:`logistic_regression`: 1 / (2 C) ||W||^2 beside the summed log-loss,
#: with C = 1 (scikit-learn's default).
LOGREG_C = 1.0


def _standardise(F: np.ndarray, F_test: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    mu = F.mean(axis=0)
    sd = F.std(axis=0)
    sd[sd == 0] = 1.0
    return (F - mu) / sd, (F_test - mu) / sd


def logistic_regression(F: Any, y: Any, F_test: Any, k: Optional[int] = None, C: float = LOGREG_C,
                        max_iter: int = 5000) -> np.ndarray:
    """Multinomial logistic regression with an L2 penalty; the classes it predicts for
    ``F_test``.

    The features are standardised by their training mean and standard deviation; the
    objective is the summed cross-entropy plus ``||W||^2 / (2 C)`` (the intercepts carry a
    penalty 1e-8 times as large, which only removes the softmax's shift invariance), a
    strictly convex function minimised from zero weights by L-BFGS (``scipy.optimize``,
    exact gradient) to a gradient below 1e-10 per component: deterministic, no randomness,
    no scikit-learn.

    Parameters
    ----------
    F : array_like (N, p)
        Training features.
    y : array_like (N,) int
        Classes 0 .. k - 1.
    F_test : array_like (M, p)
        Features to classify.
    k : int, optional
        Number of classes (default: ``max(y) + 1``).
    C : float
        Inverse L2 strength (> 0).

    Returns
    -------
    ndarray (M,) int64
        Predicted classes.
    """
    from scipy.optimize import minimize

    F = np.asarray(F, dtype=np.float64)
    Ft = np.asarray(F_test, dtype=np.float64)
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if F.ndim != 2 or Ft.ndim != 2 or F.shape[1] != Ft.shape[1] or F.shape[0] != y.size or y.size == 0:
        raise PyrtrlError(f"logistic_regression needs F (N, p), y (N,) and F_test (M, p); got "
                          f"{F.shape}, {y.shape}, {Ft.shape}")
    C = check_float("C", C, 0.0)
    if C <= 0:
        raise PyrtrlError(f"C must be > 0, got {C}")
    k = int(y.max()) + 1 if k is None else check_int("k", k, 2)
    if y.min() < 0 or y.max() >= k:
        raise PyrtrlError(f"classes must lie in 0 .. {k - 1}")
    Fs, Fts = _standardise(F, Ft)
    N, p = Fs.shape
    Z = np.hstack([Fs, np.ones((N, 1))])  # augmented: the last column is the intercept
    q = p + 1
    reg = np.full(q, 1.0 / C)
    reg[-1] = 1e-8 / C
    Y = np.zeros((N, k))
    Y[np.arange(N), y] = 1.0

    def objective(w: np.ndarray) -> Tuple[float, np.ndarray]:
        W = w.reshape(k, q)
        A = Z @ W.T
        A -= A.max(axis=1, keepdims=True)
        logp = A - np.log(np.exp(A).sum(axis=1, keepdims=True))
        G = (np.exp(logp) - Y).T @ Z + reg * W
        return float(-(Y * logp).sum() + 0.5 * (reg * W * W).sum()), G.ravel()

    r = minimize(objective, np.zeros(k * q), jac=True, method="L-BFGS-B",
                 options={"maxiter": max_iter, "gtol": 1e-10, "ftol": 1e-15})
    W = r.x.reshape(k, q)
    Zt = np.hstack([Fts, np.ones((Fts.shape[0], 1))])
    return np.argmax(Zt @ W.T, axis=1).astype(np.int64)


def mean_std_features(X: Any) -> np.ndarray:
    """(N, 2 d): every channel's mean and standard deviation over each sequence of ``X``
    (N, T, d)."""
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([X.mean(axis=1), X.std(axis=1)], axis=1)


def raw_features(X: Any) -> np.ndarray:
    """(N, T d): each sequence's values, flattened."""
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(X.shape[0], -1)


def classification_baselines(X: Any, y: Any, X_test: Any, y_test: Any, k: Optional[int] = None,
                             C: float = LOGREG_C) -> Dict[str, Any]:
    """Test accuracies of the classification baselines on labelled sequences.

    - ``majority``: the most frequent training class (:func:`majority_class`);
    - ``logreg_mean_std``: :func:`logistic_regression` on each channel's mean and standard
      deviation over the sequence (:func:`mean_std_features`);
    - ``logreg_raw``: the same on the raw values (:func:`raw_features`);
    - ``logreg_best``: the better of the two on the test set (an optimistic baseline: the
      choice is made where it is scored), ``logreg_best_features`` which one.

    Parameters
    ----------
    X, X_test : array_like (N, T, d)
    y, y_test : array_like (N,) int
    """
    X, Xt = np.asarray(X, dtype=np.float64), np.asarray(X_test, dtype=np.float64)
    y, yt = np.asarray(y).astype(np.int64), np.asarray(y_test).astype(np.int64)
    k = int(max(y.max(), yt.max() if yt.size else 0)) + 1 if k is None else k
    out: Dict[str, Any] = {"majority": majority_class(y, yt), "logreg_C": C}
    for name, feat in (("logreg_mean_std", mean_std_features), ("logreg_raw", raw_features)):
        pred = logistic_regression(feat(X), y, feat(Xt), k=k, C=C)
        out[name] = float(np.mean(pred == yt))
    best = "logreg_raw" if out["logreg_raw"] > out["logreg_mean_std"] else "logreg_mean_std"
    out["logreg_best"], out["logreg_best_features"] = out[best], best[len("logreg_"):]
    return out
