#!/usr/bin/env python3
"""Soak benchmark of the host C library (docs/reliability.md; not run in CI).

A small learner (default n = 8, 1 input, 1 output, density 0.5, shared mask) learns the
recorded PPG signal (ppg-long, replayed in a loop) online for 10^6 steps through
CLearner.run_fixed in chunks, at the device's default learning rate. After every chunk:
the saturation counter, the loss and every weight must stay finite and bounded (weights
within +-BOUND, thresholds in [0, 1], the chunk's mean loss below LOSS_BOUND). Prints a
table per checkpoint and a JSON summary; exit status 1 if a check fails.

    python tools/soak.py                      # 10^6 steps, n = 8, influence bits 16 and 32
    python tools/soak.py --steps 200000 --hidden 16 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import pyrtrl
from pyrtrl.fixed.quantize import quantize_samples
from pyrtrl.deploy.runtime import CLearner
from pyrtrl.data.signals import forecasting_stream, load_signal

WONE = 1 << 24  # Q24 one
BOUND = 16.0  # |weight| limit of the check (the Q7.24 range is +-128)
LOSS_BOUND = 1.0  # mean squared-error loss per chunk (the signal is normalised to ~unit scale)


def soak(steps: int, hidden: int, bits: int, lr: float, chunk: int, seed: int, report_every: int):
    x, target = forecasting_stream(load_signal("ppg-long", seed=seed))
    xq = quantize_samples(x, "x")[0].astype(np.int32)
    tq = quantize_samples(target, "target")[0].astype(np.int32)
    L = xq.shape[0]
    model = pyrtrl.init_egru(hidden, 1, 1, density=0.5, shared_mask=True, eps=0.5, seed=seed)
    learner = CLearner(model, lr=lr, influence_bits=bits)
    q = learner.q
    thr = slice(q.offsets["thr"], q.offsets["thr"] + q.n)
    rows, problems = [], []
    t0 = time.perf_counter()
    done, pos, sat_prev = 0, 0, 0
    max_abs_w, losses = 0.0, []
    while done < steps:
        T = min(chunk, steps - done)
        idx = (pos + np.arange(T)) % L  # the signal replayed in a loop
        r = learner.run_fixed(xq[idx], tq[idx])
        pos = (pos + T) % L
        done += T
        s = learner.snapshot()
        c = s.counters
        w = np.concatenate([s.theta, s.w_o.ravel(), s.b_o]) / WONE
        loss = float(np.mean(r.loss_q)) / 65536
        losses.append(loss)
        max_abs_w = max(max_abs_w, float(np.abs(w).max()))
        if not np.all(np.isfinite(w)) or not np.isfinite(loss):
            problems.append(f"step {done}: non-finite weights or loss")
        if np.abs(w).max() > BOUND:
            problems.append(f"step {done}: |weight| {np.abs(w).max():.3f} > {BOUND}")
        t = s.theta[thr]
        if t.min() < 0 or t.max() > WONE:
            problems.append(f"step {done}: threshold outside [0, 1]")
        if loss > LOSS_BOUND:
            problems.append(f"step {done}: mean loss {loss:.4f} > {LOSS_BOUND}")
        if c.steps != done:
            problems.append(f"step {done}: step counter {c.steps}")
        if done % report_every == 0 or done == steps:
            rows.append({"step": done, "mean_loss_last_chunk": loss, "saturations": int(c.saturations),
                         "saturations_since_last": int(c.saturations - sat_prev),
                         "max_abs_weight": float(np.abs(w).max()),
                         "thr_min": float(t.min()) / WONE, "thr_max": float(t.max()) / WONE,
                         "events_per_step": float(c.events) / done, "updates": int(c.updates)})
            sat_prev = int(c.saturations)
    wall = time.perf_counter() - t0
    return {"steps": steps, "hidden": hidden, "influence_bits": bits, "lr": lr, "params": int(q.P),
            "signal": "ppg-long", "signal_length": int(L), "wall_seconds": wall,
            "us_per_step": 1e6 * wall / steps, "first_loss": losses[0], "final_loss": losses[-1],
            "max_abs_weight_seen": max_abs_w, "saturations": rows[-1]["saturations"],
            "checkpoints": rows, "problems": problems, "passed": not problems}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32], choices=(16, 32))
    ap.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1, the device runs')")
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--report-every", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    results = []
    for bits in a.bits:
        res = soak(a.steps, a.hidden, bits, a.lr, a.chunk, a.seed, a.report_every)
        results.append(res)
        print(f"influence bits {bits}: {res['steps']} steps, n={res['hidden']} (P={res['params']}), "
              f"{res['wall_seconds']:.1f} s ({res['us_per_step']:.2f} us/step)")
        print(f"{'step':>9} {'loss':>8} {'sat':>10} {'+sat':>8} {'max|w|':>8} {'thr':>13} {'ev/step':>8}")
        for r in res["checkpoints"]:
            print(f"{r['step']:>9} {r['mean_loss_last_chunk']:>8.5f} {r['saturations']:>10} "
                  f"{r['saturations_since_last']:>8} {r['max_abs_weight']:>8.4f} "
                  f"{r['thr_min']:>6.3f}-{r['thr_max']:<6.3f} {r['events_per_step']:>8.3f}")
        print("PASSED" if res["passed"] else "FAILED: " + "; ".join(res["problems"][:5]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
