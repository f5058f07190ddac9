#!/usr/bin/env python3
"""runtime_c's vector kernel against its portable loops, timed in one run on this host.

Builds a second copy of the cffi extension with -DRTRL_NO_SIMD (the portable loops, otherwise
the same flags as pip: -O3 -march=native RTRL_CHUNK=32) into a temporary directory, then for
each configuration trains the model as ``pyrtrl bench`` does (pyrtrl/benchmarks/bench.py, same seeds),
and times the installed binding (whatever kernel it has: ``rtrl_kernel_name()``) and the
portable build on the same window, sparse and dense mode, repeats interleaved, the fastest of
each kept. Both builds must give the same integers (M, gradient and counters are compared
after the window). Also times the numpy sparse engine once, as ``pyrtrl bench`` does, and
counts its MACs per step (``macs_sparse`` of the bench): G MAC/s = those MACs / C's time.

Run pinned to one thread: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python tools/kernel_speed.py``.
Prints a table, or JSON with --json. Wall times depend on the machine; only the ratios in one
run are meaningful.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIGS = [(64, 0.2, 0.2, True), (64, 1.0, 1.0, True), (32, 0.2, 0.2, True)]


def build_portable(bits: int, tmp: str):
    """The binding's sources built with -DRTRL_NO_SIMD as module _rtrl{bits}_portable."""
    from cffi import FFI

    from pyrtrl import _build_runtime as br

    ffi = FFI()
    ffi.cdef(br.CDEF)
    src = os.path.join(ROOT, "runtime_c")
    ffi.set_source(
        f"_rtrl{bits}_portable", '#include "rtrl.h"',
        sources=sorted(glob.glob(os.path.join(src, "src", "*.c"))),
        include_dirs=[os.path.join(src, "include"), os.path.join(src, "src")],
        define_macros=[("RTRL_INFLUENCE_BITS", str(bits)), ("RTRL_CHUNK", "32"), ("RTRL_NO_SIMD", "1")],
        extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Werror"] + br.native_flags(),
    )
    path = ffi.compile(tmpdir=tmp, verbose=False)
    spec = importlib.util.spec_from_file_location(f"_rtrl{bits}_portable", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ffi, mod.lib


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bits", type=int, nargs="+", default=[32, 16], choices=(16, 32))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", help="also write the results (with date, machine, command) to this "
                                  "JSON file, e.g. docs/bench/kernel_speed.json, which "
                                  "`pyrtrl bench --all` renders into docs/benchmarks.md section 3")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from pyrtrl.deploy import runtime
    from pyrtrl.benchmarks.bench import _run_window
    from pyrtrl.fixed.quantize import quantize_samples
    from pyrtrl.core.gradients import make_engine
    from pyrtrl.core.learner import OnlineLearner
    from pyrtrl.core.model import init_egru
    from pyrtrl.data.tasks import delayed_recall

    train_steps, warmup, window = 1500, 100, 200  # bench_config's defaults
    with tempfile.TemporaryDirectory(prefix="pyrtrl-portable-") as tmp:
        libs = {(w, bits): runtime._lib(bits) if w == "native" else build_portable(bits, tmp)
                for bits in args.bits for w in ("native", "portable")}
        names = {w: libs[w, args.bits[0]][0].string(libs[w, args.bits[0]][1].rtrl_kernel_name()).decode()
                 for w in ("native", "portable")}
        real_lib = runtime._lib
        rows = []
        with threadpool_limits(limits=1):
            for (n, density, eps, shared) in CONFIGS:
                model = init_egru(n, 1, 2, density=density, shared_mask=shared, eps=eps, seed=0)
                x, target = delayed_recall(train_steps + warmup + window, seed=1)
                OnlineLearner(model, lr=3e-3).run(x[:train_steps], target[:train_steps])
                xm, tm = x[train_steps:], target[train_steps:]
                xq = quantize_samples(xm)[0].astype(np.int32)
                tq = quantize_samples(tm)[0].astype(np.int32)
                eng = make_engine(model, "rtrl_sparse")
                eng.reset()
                _run_window(eng, xm[:warmup], tm[:warmup])
                m0, s0 = eng.counters.macs, eng.counters.steps
                us_np = _run_window(eng, xm[warmup:], tm[warmup:]) * 1e6
                macs = (eng.counters.macs - m0) / (eng.counters.steps - s0)  # bench's macs_sparse
                best = {}
                snaps = {}
                learners = {}
                for (which, bits), lib in libs.items():  # same model: a learner per build, mode
                    runtime._lib = lambda _bits, _lib=lib: _lib
                    try:
                        for dense in (False, True):
                            learners[which, bits, dense] = runtime.CLearner(
                                model, lr=1.0, clip=0.0, update_every=65535, dense=dense,
                                influence_bits=bits)
                    finally:
                        runtime._lib = real_lib
                for _ in range(args.repeats):
                    for key, c in learners.items():
                        c.reset_state()
                        c.run_fixed(xq[:warmup], tq[:warmup])
                        t0 = time.perf_counter()
                        c.run_fixed(xq[warmup:], tq[warmup:])
                        us = (time.perf_counter() - t0) / (window) * 1e6
                        best[key] = min(best.get(key, np.inf), us)
                        snaps[key] = c.snapshot()
                for bits in args.bits:
                    for dense in (False, True):
                        a, b = snaps["native", bits, dense], snaps["portable", bits, dense]
                        assert np.array_equal(a.M, b.M) and np.array_equal(a.grad, b.grad), "builds differ"
                        assert a.counters == b.counters, "counters differ"
                    rows.append(dict(
                        hidden=n, density=density, eps=eps, shared_mask=shared, bits=bits,
                        macs_sparse=macs, us_numpy_sparse=us_np,
                        us_c_sparse={w: best[w, bits, False] for w in ("native", "portable")},
                        us_c_dense={w: best[w, bits, True] for w in ("native", "portable")},
                        kernels=names))
    if args.out:
        import datetime

        from pyrtrl.benchmarks.document import _machine

        doc = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": _machine(),
               "command": "python tools/kernel_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
               "bits": args.bits, "repeats": args.repeats, "rows": rows}
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    print(f"kernels: native = {names['native']}, baseline = {names['portable']}; "
          f"fastest of {args.repeats} interleaved repeats")
    print(f"{'n':>3} {'dens':>5} {'eps':>4} {'bits':>4} {'us np sp':>9} {'us C sp port':>12} {'us C sp vec':>11} "
          f"{'sp speedup':>10} {'us C dn port':>12} {'us C dn vec':>11} {'dn speedup':>10} "
          f"{'np/C vec':>8} {'GMAC/s vec':>10}")
    for r in rows:
        sp, dn = r["us_c_sparse"], r["us_c_dense"]
        print(f"{r['hidden']:>3} {r['density']:>5.2f} {r['eps']:>4.1f} {r['bits']:>4} {r['us_numpy_sparse']:>9.0f} "
              f"{sp['portable']:>12.1f} {sp['native']:>11.1f} {sp['portable'] / sp['native']:>10.2f} "
              f"{dn['portable']:>12.1f} {dn['native']:>11.1f} {dn['portable'] / dn['native']:>10.2f} "
              f"{r['us_numpy_sparse'] / sp['native']:>8.1f} "
              f"{r['macs_sparse'] / sp['native'] / 1e3:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
