#!/usr/bin/env python3
"""Measurements behind docs/numerics.md: table sizes, value ranges over long runs, fidelity
of fixed vs float, what 16-bit influence storage costs, why master weights are Q24.

Run: python tools/measure_numerics.py [--quick]  (prints Markdown tables)
"""

import argparse
import sys

import numpy as np

import pyrtrl
from pyrtrl.core.bptt import forward_sequence
from pyrtrl.fixed import FixedLearner, fixed_config, quantize, quantize_samples, to_fixed
from pyrtrl.fixed.arith import rnd
from pyrtrl.core.gradcheck import flat
from pyrtrl.data.tasks import delayed_recall


def table_error(step_bits: int, zmax: float) -> tuple:
    """Max error (LSB of Q16) of a sigmoid table with step 2^step_bits/2^16 up to zmax."""
    entries = int(zmax * (1 << (16 - step_bits))) + 1
    z = np.arange(entries) / (1 << (16 - step_bits))
    T = np.floor(1 / (1 + np.exp(-z)) * 65536 + 0.5).astype(np.int64)
    zq = to_fixed(np.linspace(0, 16, 400001), 16)
    idx = zq >> step_bits
    inside = idx < entries - 1
    i = np.where(inside, idx, entries - 2)
    fr = zq & ((1 << step_bits) - 1)
    s = np.where(inside, T[i] + rnd((T[i + 1] - T[i]) * fr, step_bits), T[-1])
    sig_err = np.abs(s / 65536 - 1 / (1 + np.exp(-zq / 65536))).max() * 65536
    return entries, sig_err


def ranges_run(n, density, eps, shared, bits, steps, seed=0):
    model = pyrtrl.init_egru(n, 1, 2, density=density, shared_mask=shared, eps=eps, seed=seed)
    x, tg = delayed_recall(steps, seed=seed + 1)
    f = FixedLearner(quantize(model), fixed_config(0.03, 1.0, 1, bits))
    f.track_ranges = True
    xq, tq = quantize_samples(x)[0], quantize_samples(tg)[0]
    losses = []
    for t in range(steps):
        losses.append(f.step(xq[t], tq[t])[1] / 65536)
    return f, np.array(losses)


def cosine(model, x, tg, bits):
    g = pyrtrl.gradients(model, x, tg)
    f = FixedLearner(quantize(model), fixed_config(1.0, 0.0, 65535, bits))
    xq, tq = quantize_samples(x)[0], quantize_samples(tg)[0]
    ev = []
    for t in range(x.shape[0]):
        f.step(xq[t], tq[t])
        ev.append(f.o.copy())
    flips = int((np.array(ev) != np.array([s.o for s in forward_sequence(model, x)])).sum())
    vf = flat(f.gradient())
    vg = flat(g)
    return float(vf @ vg / np.linalg.norm(vf) / np.linalg.norm(vg)), flips


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    steps = 3000 if args.quick else 20000

    print("## Sigmoid table: max error (LSB of Q16) by step and range\n")
    print("| step | range | entries | bytes (uint16) | max error, LSB |")
    print("| --- | --- | --- | --- | --- |")
    for sb in (13, 12, 11, 10):
        for zmax in (8.0, 12.0):
            e, err = table_error(sb, zmax)
            print(f"| 1/{1 << (16 - sb)} | [0, {zmax:g}] | {e} | {2 * e} | {err:.2f} |")

    print(f"\n## Value ranges over {steps} online steps (delayed recall, SGD lr 0.03), max |value|\n")
    configs = [(16, 0.5, 0.5, False), (32, 0.2, 0.2, True), (64, 0.1, 0.5, True)]
    names = ["pre_u", "pre_g", "q", "c", "a", "alpha_u", "alpha_r", "A", "J", "M", "dy", "ga", "G",
             "theta", "w_o"]
    print("| n, density, eps, masks, bits | " + " | ".join(names) + " | saturations |")
    print("| --- " * (len(names) + 2) + "|")
    for n, dn, ep, sh in configs:
        for bits in (32, 16):
            f, _ = ranges_run(n, dn, ep, sh, bits, steps)
            cells = " | ".join(f"{f.ranges.get(k, 0):.3g}" for k in names)
            print(f"| {n}, {dn}, {ep}, {'shared' if sh else 'indep'}, {bits} | {cells} | "
                  f"{f.counters.saturations} |")

    print("\n## Gradient cosine, fixed vs float RTRL (100 steps, no learning)\n")
    print("| n, density, eps | cos 32-bit | cos 16-bit | event flips |")
    print("| --- | --- | --- | --- |")
    for n, dn, ep, sh, seed in [(16, 0.5, 0.5, False, 1), (32, 0.2, 0.2, True, 2),
                                (24, 0.3, 1.0, False, 3), (64, 0.1, 0.5, True, 4)]:
        m = pyrtrl.init_egru(n, 2, 2, density=dn, shared_mask=sh, eps=ep, seed=seed)
        rng = np.random.default_rng(seed)
        x, tg = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
        c32, fl = cosine(m, x, tg, 32)
        c16, _ = cosine(m, x, tg, 16)
        print(f"| {n}, {dn}, {ep} | {c32:.9f} | {c16:.9f} | {fl} |")

    print("\n## Update sizes: why the master weights are Q24\n")
    model = pyrtrl.init_egru(16, 1, 2, density=0.5, eps=0.5, seed=0)
    x, tg = delayed_recall(steps, seed=1)
    learner = pyrtrl.OnlineLearner(model, lr=0.03, optimizer="sgd", clip=1.0, clip_mode="value")
    before = {k: v.copy() for k, v in model.params.items()}
    sizes = []
    for t in range(min(steps, 3000)):
        learner.step(x[t], tg[t])
        for k, v in model.params.items():
            d = np.abs(v - before[k])
            mask = model.masks[k] if k in model.masks else np.ones_like(v, dtype=bool)
            sizes.append(d[mask])
            before[k] = v.copy()
    sizes = np.concatenate(sizes)
    sizes = sizes[sizes > 0]
    for label, lsb in (("Q16 (2^-16)", 2.0 ** -16), ("Q24 (2^-24)", 2.0 ** -24)):
        small = sizes < lsb / 2
        print(f"- nonzero float updates smaller than half an LSB of {label}: "
              f"{100 * np.mean(small):.1f} % of the updates, "
              f"{100 * sizes[small].sum() / sizes.sum():.3f} % of their total magnitude (they would vanish)")
    print(f"- median nonzero update: {np.median(sizes):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
