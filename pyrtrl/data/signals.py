"""Recorded signals to learn from online, and the next-sample forecasting stream built on them.

The default is a real photoplethysmogram (PPG) shipped inside the ``heartpy`` wheel, so a
fresh machine needs no network to run the main job. Signals are downsampled to a few tens
of Hz (the rate a microcontroller would stream at) and normalized *causally*: offset and
scale come from the first 10 % of the stream only, as a device would calibrate on its first
seconds of data, so nothing the learner is later scored on leaks into its inputs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from ..errors import PyrtrlError

#: Fraction of the stream (from its start) that sets the normalization.
CALIBRATION_FRACTION = 0.1
#: Fewest samples a signal may have: two forecasting steps need three samples.
MIN_SAMPLES = 3
#: Downsampling aims for a rate inside this band (Hz): fast enough to resolve the PPG
#: pulse shape, slow enough for a small MCU and for a short default run.
TARGET_RATE_HZ = (25.0, 35.0)
#: Robust spread: the 5-95 % percentile range over this (its width in standard deviations
#: for Gaussian data), so "scale" reads like a std. A PPG sits at its baseline most of the
#: time, so the median absolute deviation sees only the baseline wobble and would blow the
#: pulses up to +-15; the percentile range sees the pulse amplitude yet ignores rare spikes.
SPREAD_QUANTILES = (5.0, 95.0)
SPREAD_TO_STD = 2 * 1.6448536269514722
#: The first raw samples of heartpy's data2.csv are sensor placement, not a pulse wave:
#: a flat line, motion artifacts, a 7 s dropout to exactly 0 (samples 2108-2943) and the
#: settling after it. "ppg" starts after them (38 s into the file); normalizing on the flat
#: lead-in would give a scale of ~1 ADC count.
PPG_SKIP_SAMPLES = 4500


@dataclass
class Signal:
    """A normalized 1-D signal.

    Attributes
    ----------
    values : ndarray (T,) float64
        ``(raw - offset) / scale``, raw being the (downsampled) recording.
    rate_hz : float
        Sample rate of ``values``.
    name : str
        The name it was loaded by (``"ppg"``, ``"ppg-long"``, ``"synthetic"``).
    source : str
        Where it came from and how it was processed, one line.
    scale, offset : float
        The causal normalization, from the first 10 % of the stream.
    """

    values: np.ndarray
    rate_hz: float
    name: str
    source: str
    scale: float
    offset: float

    def __len__(self) -> int:
        return int(self.values.shape[0])


def calibration_length(n: int) -> int:
    """Samples used for normalization: the first 10 % of ``n``, at least :data:`MIN_SAMPLES`."""
    return min(n, max(MIN_SAMPLES, math.ceil(CALIBRATION_FRACTION * n)))


def causal_normalization(raw: np.ndarray) -> Tuple[float, float]:
    """``(offset, scale)`` from the first 10 % of ``raw``: median and robust spread.

    The spread is the 5-95 % percentile range divided by its Gaussian width (3.29), so it
    equals the standard deviation for Gaussian data; if that range is zero (a window that
    is mostly flat) the plain standard deviation is used.

    Raises
    ------
    PyrtrlError
        If the calibration window is constant (no scale can be derived).
    """
    head = np.asarray(raw, dtype=np.float64)[: calibration_length(len(raw))]
    return robust_offset_scale(
        head, f"signal is constant over its first {len(head)} samples; cannot normalize it")


def robust_offset_scale(values: np.ndarray, constant_message: str) -> Tuple[float, float]:
    """``(median, robust spread)`` of ``values`` (see :func:`causal_normalization`); a
    :class:`PyrtrlError` with ``constant_message`` if no scale can be derived."""
    v = np.asarray(values, dtype=np.float64)
    offset = float(np.median(v))
    lo, hi = np.percentile(v, SPREAD_QUANTILES)
    scale = float(hi - lo) / SPREAD_TO_STD
    if not scale > 0:
        scale = float(np.std(v))
    if not (scale > 0 and math.isfinite(scale)):
        raise PyrtrlError(constant_message)
    return offset, scale


def signal_from_array(
    raw: np.ndarray, rate_hz: float, name: str = "array", source: str = "array",
    max_steps: Optional[int] = None,
) -> Signal:
    """Check, truncate and causally normalize a raw 1-D recording.

    Parameters
    ----------
    raw : array-like (T,)
        Samples at ``rate_hz``; must be finite.
    rate_hz : float
        Positive sample rate.
    max_steps : int, optional
        Keep at most this many samples (from the start) *before* normalizing, so that a
        short run is normalized from its own first 10 % and never from later samples.

    Raises
    ------
    PyrtrlError
        Non-finite samples, a non-1-D array, too few samples or a constant start.
    """
    a = np.asarray(raw, dtype=np.float64)
    if a.ndim != 1:
        raise PyrtrlError(f"signal {name!r} must be one-dimensional, got shape {a.shape}")
    if max_steps is not None:
        if int(max_steps) != max_steps or max_steps < MIN_SAMPLES:
            raise PyrtrlError(f"max_steps must be an integer >= {MIN_SAMPLES}, got {max_steps}")
        a = a[: int(max_steps)]
    if a.shape[0] < MIN_SAMPLES:
        raise PyrtrlError(
            f"signal {name!r} is too short: {a.shape[0]} samples, need at least {MIN_SAMPLES}"
        )
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        first = int(np.flatnonzero(~np.isfinite(a))[0])
        raise PyrtrlError(f"signal {name!r} has {bad} non-finite sample(s), the first at index {first}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise PyrtrlError(f"signal {name!r} needs a positive sample rate, got {rate_hz}")
    offset, scale = causal_normalization(a)
    return Signal((a - offset) / scale, float(rate_hz), name, source, scale, offset)


def block_mean(raw: np.ndarray, factor: int) -> np.ndarray:
    """Downsample by ``factor`` with the mean of each block (a boxcar anti-alias filter).

    A trailing partial block is dropped so every output sample averages the same span.
    """
    if factor <= 1:
        return np.asarray(raw, dtype=np.float64)
    usable = (len(raw) // factor) * factor
    return np.asarray(raw[:usable], dtype=np.float64).reshape(-1, factor).mean(axis=1)


def downsample_factor(rate_hz: float) -> int:
    """The integer factor bringing ``rate_hz`` closest to the middle of :data:`TARGET_RATE_HZ`."""
    mid = 0.5 * (TARGET_RATE_HZ[0] + TARGET_RATE_HZ[1])
    return max(1, int(round(rate_hz / mid)))


def _rate_from_ms_timer(timer: np.ndarray) -> float:
    """Sample rate from a timer column in milliseconds (span over count, robust to jitter)."""
    t = np.asarray(timer, dtype=np.float64).ravel()
    span = float(t[-1] - t[0]) if t.size >= 2 else 0.0
    if not (math.isfinite(span) and span > 0):
        raise PyrtrlError("cannot derive the sample rate: timer column is not increasing")
    return (t.size - 1) / (span / 1000.0)


def _rate_from_datetimes(stamps: np.ndarray) -> float:
    """Sample rate from ISO-like timestamp strings.

    Uses total span over count: the recording repeats some stamps (logger jitter), so
    per-sample differences are useless but the average over 68k samples is sound.
    """
    try:
        t = np.asarray(stamps).astype("datetime64[us]")
    except (ValueError, TypeError) as e:
        raise PyrtrlError(f"cannot parse the timestamp column: {' '.join(str(e).split())}") from None
    span_s = float((t[-1] - t[0]) / np.timedelta64(1, "us")) / 1e6 if t.size >= 2 else 0.0
    if not span_s > 0:
        raise PyrtrlError("cannot derive the sample rate: timestamps are not increasing")
    return (t.size - 1) / span_s


def _heartpy_example(which: int) -> Tuple[np.ndarray, np.ndarray]:
    try:
        with warnings.catch_warnings():
            # heartpy imports pkg_resources, which warns about its own deprecation
            warnings.simplefilter("ignore")
            import heartpy
    except ImportError:
        raise PyrtrlError(
            "the recorded signals need the 'heartpy' package (pip install heartpy)"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, timer = heartpy.load_exampledata(which)
    return np.asarray(data), np.asarray(timer)


def _load_ppg() -> Tuple[np.ndarray, float, str]:
    data, timer = _heartpy_example(1)
    rate = _rate_from_ms_timer(timer)
    f = downsample_factor(rate)
    skip = PPG_SKIP_SAMPLES
    return block_mean(data[skip:], f), rate / f, (
        f"heartpy example data2.csv (PPG, {data.size} samples at {rate:.2f} Hz) from sample "
        f"{skip} on (sensor-placement lead-in skipped), block mean over {f} -> {rate / f:.2f} Hz"
    )


def _load_ppg_long() -> Tuple[np.ndarray, float, str]:
    data, stamps = _heartpy_example(2)
    rate = _rate_from_datetimes(stamps)
    f = downsample_factor(rate)
    return block_mean(data, f), rate / f, (
        f"heartpy example data3.csv (PPG, {data.size} samples at {rate:.2f} Hz), "
        f"block mean over {f} -> {rate / f:.2f} Hz"
    )


def _load_water_flow() -> Tuple[np.ndarray, float, str]:
    # read from river's wheel without importing river (a large package): the file is data
    import importlib.util
    import os

    spec = importlib.util.find_spec("river")
    path = (os.path.join(list(spec.submodule_search_locations)[0], "datasets", "water-flow.csv")
            if spec is not None and spec.submodule_search_locations else None)
    if path is None or not os.path.exists(path):
        raise PyrtrlError("signal 'water-flow' needs the 'river' package, which ships it "
                          "(pip install 'pyrtrl[signals]' or pip install river)")
    try:
        data = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=1)
    except ValueError as e:
        raise PyrtrlError(f"cannot read {path}: {e}") from None
    return data, 1.0 / 3600.0, (
        f"river's water-flow.csv (hourly water flow through a pipe branch, l/s, "
        f"{data.size} samples, March-May 2022), no downsampling"
    )


def synthetic_signal(samples: int = 4000, rate_hz: float = 30.0, seed: int = 0) -> np.ndarray:
    """A seeded noisy two-tone quasi-periodic signal (a stand-in for a pulse wave).

    A ~1.1 Hz fundamental with a slowly wandering frequency, its second harmonic with a
    drifting phase, and white noise: periodic enough to be forecastable, irregular enough
    that a fixed filter does not solve it.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate_hz
    # random-walk frequency, kept within +-20 % of the base
    drift = np.cumsum(rng.normal(0.0, 0.002, size=samples))
    f0 = 1.1 * (1.0 + np.clip(drift, -0.2, 0.2))
    phase = 2 * np.pi * np.cumsum(f0) / rate_hz
    second = 0.5 * np.sin(2 * phase + 0.3 * np.sin(2 * np.pi * 0.05 * t))
    return np.sin(phase) + second + 0.05 * rng.normal(size=samples)


def _load_synthetic(seed: int) -> Tuple[np.ndarray, float, str]:
    rate = 30.0
    return synthetic_signal(4000, rate, seed), rate, (
        f"synthetic two-tone quasi-periodic signal (seed {seed}, 4000 samples at {rate:.0f} Hz)"
    )


_LOADERS: Dict[str, Callable[[int], Tuple[np.ndarray, float, str]]] = {
    "ppg": lambda seed: _load_ppg(),
    "ppg-long": lambda seed: _load_ppg_long(),
    "water-flow": lambda seed: _load_water_flow(),
    "synthetic": _load_synthetic,
}
#: Names accepted by :func:`load_signal`.
SIGNALS: tuple[str, ...] = tuple(_LOADERS)


def check_signal_name(name: str) -> None:
    """Raise :class:`PyrtrlError` unless ``name`` is one of :data:`SIGNALS`."""
    if name not in _LOADERS:
        raise PyrtrlError(f"unknown signal {name!r}; choose one of {', '.join(SIGNALS)}")


def load_signal(name: str = "ppg", max_steps: Optional[int] = None, seed: int = 0) -> Signal:
    """Load, downsample and causally normalize a signal.

    Parameters
    ----------
    name : {"ppg", "ppg-long", "water-flow", "synthetic"}
        ``"ppg"``: heartpy's ``data2.csv`` (15000 samples at ~117 Hz) after its 38 s
        sensor-placement lead-in (:data:`PPG_SKIP_SAMPLES`), ~117 Hz -> ~29 Hz, 2625
        samples (90 s);
        ``"ppg-long"``: ``data3.csv`` (68k samples, ~100 Hz -> ~33 Hz, ~11 minutes);
        ``"water-flow"``: hourly flow in a water pipe (1,268 samples, ~53 days), shipped
        in the ``river`` package (optional: ``pip install 'pyrtrl[signals]'``);
        ``"synthetic"``: :func:`synthetic_signal` with ``seed``.
    max_steps : int, optional
        Keep at most this many (downsampled) samples; normalization then uses the first
        10 % of those.
    seed : int
        Only for ``"synthetic"``.

    Raises
    ------
    PyrtrlError
        Unknown name, heartpy missing, too short, non-finite or constant signal.

    Examples
    --------
    >>> s = load_signal("ppg", max_steps=500)
    >>> len(s), round(s.rate_hz, 1)
    (500, 29.2)
    """
    check_signal_name(name)
    raw, rate, source = _LOADERS[name](seed)
    return signal_from_array(raw, rate, name, source, max_steps)


def forecasting_stream(signal: Signal) -> Tuple[np.ndarray, np.ndarray]:
    """Next-sample forecasting pairs: ``x[t] = s[t]``, ``target[t] = s[t + 1]``.

    Returns
    -------
    x, target : ndarray (T - 1, 1) float64
    """
    s = np.asarray(signal.values, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] < 2:
        raise PyrtrlError(f"a forecasting stream needs at least 2 samples, got shape {s.shape}")
    return s[:-1, None].copy(), s[1:, None].copy()
