#!/usr/bin/env python3
"""Instructions per learning step by phase of runtime_c's step, on boards under QEMU.

For each board and configuration it builds the learner firmware for the run's default model
(:func:`pyrtrl.runs.device.default_model`: hidden 32 or the largest that fits the board, the
settings of :mod:`pyrtrl.run_defaults`, with the configuration's readout rule, optimizer and
horizon), streams the recorded PPG signal to it under QEMU with two TCG plugins loaded side by
side, and reports per step:

* ``stepcount.so`` (the plugin ``pyrtrl run`` uses): the instructions of the whole step,
  between the learner's markers;
* ``phasecount.so`` (tools/qemu_plugin/phasecount.c): the same instructions split by phase
  (forecast, forward, influence, readout + gradient, update, and the step's top level), each
  phase inclusive of what its function calls (libgcc's 64-bit helpers, memcpy), and by
  function within each phase. Function ranges come from the ELF's symbol table (``nm -S``).

Neither plugin changes what the guest runs: the firmware and the library are the ones
``pyrtrl run`` builds, unmodified, and the device's weights after the run are checked bit for
bit against the host C library's. The MACs per phase come from the library's specification
(:class:`pyrtrl.fixed.model.FixedLearner`, run on the same stream and settings), checked step
by step against the device's own MAC counter (the STEP_STATS records).

    python tools/phase_profile.py                      # table, the three boards
    python tools/phase_profile.py --same-model microbit --same-model-only   # the micro:bit's
        # model on every board, each phase as a ratio to mps2-an386's (--ratio-to)
    python tools/phase_profile.py --out docs/bench/phase_profile.json --doc docs/benchmarks.md

``--git-head`` builds from the committed sources (``git archive HEAD``) instead of the working
tree, so a half-edited shared tree does not leak into the numbers.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyrtrl.device import protocol as P  # noqa: E402
from pyrtrl import run_defaults as RD  # noqa: E402
from pyrtrl.boards import get_board  # noqa: E402
from pyrtrl.errors import PyrtrlError  # noqa: E402

#: the phases of rtrl_step_labelled (runtime_c/src/rtrl_step.c), in order, with the
#: function(s) that start each; phase 0 ("step") is the top level's own work
PHASES = (("forecast", ("rtrl_forecast",)),
          ("forward", ("rtrl_forward",)),
          ("influence", ("rtrl_influence",)),
          ("readout+gradient", ("rtrl_gradient", "rtrl_evaluate")),
          ("update", ("rtrl_update",)))
PHASE_NAMES = ("step",) + tuple(p for p, _ in PHASES)
#: code of the step's top level: running it ends the current phase (rtrl_step.c's functions,
#: the learner's markers and the app function that calls the step)
TOP = ("rtrl_step_labelled", "rtrl_step", "rtrl_run_record", "rtrl_run", "in_range",
       "learn_mark_begin", "learn_mark_end", "learn_queued")
#: the configurations measured: (name, readout_rule, optimizer, horizon, model overrides:
#: readout source and taps, default run_defaults.READOUT / TAPS)
CONFIGS = (("default", RD.READOUT_RULE, RD.OPTIMIZER, 1, {}),
           ("adam", RD.READOUT_RULE, "adam", 1, {}),
           ("gradient readout", "gradient", RD.OPTIMIZER, 1, {}),
           ("horizon 8", RD.READOUT_RULE, RD.OPTIMIZER, 8, {}),
           # the readout before run_defaults chose c with taps and RLS (issue 14's
           # 357-368 k instructions per step on mps2-an386)
           ("y readout, no taps", "gradient", RD.OPTIMIZER, 1, {"readout": "y", "taps": 0}))
#: libgcc / libc leaves (and runtime_c's composed multiply of cores without a widening one,
#: rtrl_mul.c) whose instructions are also credited to their caller
HELPERS = ("memcpy", "memset", "memmove", "rtrl_mul64_composed")
BOARDS = ("mps2-an386", "microbit", "sifive_e")
PLUGIN_DIR = ROOT / "tools" / "qemu_plugin"


def _cc_plugin(src: Path, so: Path) -> Path:
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(so),
                        str(src)], capture_output=True, text=True)
    if r.returncode != 0:
        raise PyrtrlError(f"building {src.name} failed: {(r.stderr.strip().splitlines() or ['?'])[0]}")
    return so


def nm_tool(board: str) -> str:
    return "riscv64-unknown-elf-nm" if get_board(board).target.startswith("rv") else "arm-none-eabi-nm"


def symbol_map(elf: Path, board: str) -> List[tuple]:
    """(lo, hi, role, name) of every function of the ELF with a size, sorted, not
    overlapping; role -1 ordinary, 0 top level, p >= 1 the entry of phase p. Raises if a
    phase's function or rtrl_step_labelled is missing (inlined or renamed: the split would
    be wrong)."""
    r = subprocess.run([nm_tool(board), "-S", "--defined-only", str(elf)], capture_output=True,
                       text=True, check=True)
    role_of = {name: 0 for name in TOP}
    for p, (_, names) in enumerate(PHASES, start=1):
        for name in names:
            role_of[name] = p
    by_lo: Dict[int, tuple] = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[2] not in "tTwW":
            continue
        lo, size, name = int(parts[0], 16) & ~1, int(parts[1], 16), parts[3]
        if size == 0:
            continue
        role = role_of.get(name, -2 if name.startswith("__") or name in HELPERS else -1)
        old = by_lo.get(lo)
        if old is None or (role >= 0 and old[2] < 0) or (role == old[2] and size > old[1] - lo):
            by_lo[lo] = (lo, lo + size, role, name)  # an alias: the named role wins
    out: List[tuple] = []
    for f in sorted(by_lo.values()):
        if out and f[0] < out[-1][1]:
            if f[1] <= out[-1][1] and f[2] < 0:
                continue  # a symbol inside another function
            prev = out[-1]
            out[-1] = (prev[0], f[0], prev[2], prev[3])
        out.append(f)
    found = {f[3] for f in out}
    missing = [names[0] for _, names in PHASES if names[0] not in found]
    if missing or "rtrl_step_labelled" not in found:
        raise PyrtrlError(f"{elf}: no function symbol for {missing or ['rtrl_step_labelled']}")
    return out


def spec_macs(model, lr: float, settings: Dict[str, Any], xq: np.ndarray, tq: np.ndarray) -> tuple:
    """MACs per step and phase (T x len(PHASE_NAMES)) from the library's numpy
    specification, counting as runtime_c does: the forecast's forward pass, the learning
    forward pass, the influence update, the readout's cell gradient and RLS step; and the
    RLS step's alone (T,)."""
    from pyrtrl.fixed.model import FixedLearner, fixed_config
    from pyrtrl.fixed.quantize import quantize

    fl = FixedLearner(quantize(model), fixed_config(lr, RD.CLIP, 1, settings["influence_bits"], False,
                                                    **{k: v for k, v in settings.items()
                                                       if k != "influence_bits"}))
    T = xq.shape[0]
    macs = np.zeros((T, len(PHASE_NAMES)), dtype=np.int64)
    cur = {"t": 0, "forwards": 0}
    ix = {name: i for i, name in enumerate(PHASE_NAMES)}
    fwd, infl, rd = fl._forward, fl._influence, fl._readout

    def forward(*a, **kw):
        f = fwd(*a, **kw)
        # with a delay the first forward pass of a step is the forecast's
        first = fl.cfg.delay and cur["forwards"] == 0
        macs[cur["t"], ix["forecast" if first else "forward"]] += f["macs"]
        cur["forwards"] += 1
        return f

    def influence(*a, **kw):
        m = infl(*a, **kw)
        macs[cur["t"], ix["influence"]] += m
        return m

    def readout(*a, **kw):
        res = rd(*a, **kw)
        macs[cur["t"], ix["readout+gradient"]] += res[2]
        return res

    rls_macs = np.zeros(T, dtype=np.int64)
    if fl.rls is not None:
        rls_update = fl.rls.update

        def rls(*a, **kw):
            res = rls_update(*a, **kw)
            rls_macs[cur["t"]] += res[2]
            return res

        fl.rls.update = rls
    fl._forward, fl._influence, fl._readout = forward, influence, readout
    for t in range(T):
        cur["t"], cur["forwards"] = t, 0
        before = fl.counters.macs
        fl.step(xq[t], tq[t])
        if fl.counters.macs - before != macs[t].sum():
            raise PyrtrlError(f"step {t}: the specification's MAC counter moved by "
                              f"{fl.counters.macs - before}, its phases add to {macs[t].sum()}")
    return macs, rls_macs


def _git_head_tree(dest: Path) -> str:
    """The committed runtime_c/ and firmware/ (git archive HEAD) under dest; the commit."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "runtime_c", "firmware"],
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch, check=True)
    return commit


def build(board: str, model, work: Path, lr: float, settings: Dict[str, Any],
          source: Optional[Path]) -> Path:
    """The learner ELF for the model, as pyrtrl run builds it (pyrtrl.runs.device.build_firmware),
    from ``source`` (a tree with runtime_c/ and firmware/) or this checkout."""
    from pyrtrl.runs.device import build_firmware
    from pyrtrl.deploy.export import export_model

    bits = settings["influence_bits"]
    rest = {k: v for k, v in settings.items() if k != "influence_bits"}
    if source is None:
        return build_firmware(board, model, work, lr, bits, **rest)
    model_dir = work / "firmware_model"
    export_model(model, board, str(model_dir), lr=lr, influence_bits=bits, **rest)
    r = subprocess.run(["make", "-s", "-C", str(source / "firmware"), f"BOARD={board}", "APP=learner",
                        f"MODEL_DIR={model_dir}", f"INFLUENCE_BITS={bits}",
                        f"BUILD={work / 'firmware_build'}"], capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise PyrtrlError(f"firmware build for {board} failed: {last[0]}")
    return work / "firmware_build" / board / "learner.elf"


def config_model(board: str, config: tuple, influence_bits: int = RD.INFLUENCE_BITS):
    """The configuration's model as a learning run on ``board`` picks it
    (:func:`pyrtrl.runs.device.default_model`, or the same sizing with the configuration's
    readout source and taps)."""
    from pyrtrl.runs.device import default_model

    _, readout_rule, optimizer, horizon, over = config
    if not over:
        return default_model(board, 0, influence_bits, readout_rule=readout_rule, horizon=horizon,
                             optimizer=optimizer)
    # default_model with another readout source / taps (sized for them)
    from pyrtrl.deploy.budget import largest_hidden
    from pyrtrl.core.model import init_egru

    ro, taps = over.get("readout", RD.READOUT), over.get("taps", RD.TAPS)
    n = min(RD.HIDDEN, largest_hidden(board, 1, 1, RD.DENSITY, RD.SHARED_MASK, influence_bits, taps=taps,
                                      readout=ro, readout_rule=readout_rule, horizon=horizon,
                                      optimizer=optimizer))
    return init_egru(n, 1, 1, density=RD.DENSITY, shared_mask=RD.SHARED_MASK, eps=RD.EPS, seed=0,
                     readout=ro, taps=taps)


def profile(board: str, config: tuple, steps: int, warmup: int, work: Path,
            source: Optional[Path] = None, influence_bits: int = RD.INFLUENCE_BITS,
            timeout: float = 60.0, model_of: Optional[str] = None) -> Dict[str, Any]:
    """One board and configuration: per-phase instructions and MACs (see the module doc).
    ``model_of``: run the model a learning run on that board would pick (the same model on
    every board, for a like-for-like comparison) instead of this board's own."""
    from pyrtrl.device.client import Device
    from pyrtrl.runs.device import marker_addresses
    from pyrtrl.fixed.quantize import quantize_samples
    from pyrtrl.device.qemu import Qemu
    from pyrtrl.deploy.runtime import CLearner
    from pyrtrl.data.signals import forecasting_stream, load_signal

    name, readout_rule, optimizer, horizon, over = config
    lr = RD.ADAM_LR if optimizer == "adam" else RD.LR
    settings = dict(readout_rule=readout_rule, train=RD.TRAIN, rls_forgetting=RD.RLS_FORGETTING,
                    rls_p0=RD.RLS_P0, horizon=horizon, optimizer=optimizer)
    model = config_model(model_of or board, config, influence_bits)
    sig = load_signal("ppg", max_steps=steps + 1, seed=0)
    x, target = forecasting_stream(sig)
    x, target = x[:steps], target[:steps]
    xq = quantize_samples(x, "x")[0].astype(np.int32)
    tq = quantize_samples(target, "target")[0].astype(np.int32)

    work.mkdir(parents=True, exist_ok=True)
    elf = build(board, model, work, lr, dict(settings, influence_bits=influence_bits), source)
    fmap = symbol_map(elf, board)
    map_path = work / "functions.map"
    map_path.write_text("".join(f"{lo:x} {hi:x} {role} {fn}\n" for lo, hi, role, fn in fmap))
    begin, end = marker_addresses(elf, board)
    step_so = _cc_plugin(PLUGIN_DIR / "stepcount.c", work / "stepcount.so")
    phase_so = _cc_plugin(PLUGIN_DIR / "phasecount.c", work / "phasecount.so")
    totals_path, phases_path, funcs_path = work / "instructions.txt", work / "phases.txt", work / "funcs.txt"
    for p in (totals_path, phases_path, funcs_path):
        if p.exists():
            p.unlink()
    qemu = Qemu(board, elf, timeout=timeout, extra_args=[
        "-plugin", f"{step_so},arg=begin={begin:#x},arg=end={end:#x},arg=out={totals_path}",
        "-plugin", (f"{phase_so},arg=begin={begin:#x},arg=end={end:#x},arg=map={map_path},"
                    f"arg=out={phases_path},arg=funcs={funcs_path},arg=phases={len(PHASES)},"
                    f"arg=skip={warmup}")])
    started = time.monotonic()
    qemu.start()
    try:
        dev = Device(qemu.serial, timeout=timeout)
        hello = dev.hello()
        if (hello.n, hello.d, hello.k) != (model.n, model.d, model.k):
            raise PyrtrlError(f"{board}: the firmware runs {hello.n}x{hello.d}x{hello.k}, expected "
                              f"{model.n}x{model.d}x{model.k}")
        dev.start()
        records = dev.stream(xq, tq)
        image = dev.dump_weights()
        dev.exit()
        status = qemu.wait(timeout=timeout)
    finally:
        qemu.stop()
    wall = time.monotonic() - started
    if status != 0:
        raise PyrtrlError(f"{board}: QEMU exited with status {status}")

    ref = CLearner(model, lr=lr, influence_bits=influence_bits, **settings)
    ref.run_fixed(xq, tq)
    s = ref.snapshot()
    weights_match = image == P.weights_image(s.theta, s.w_o, s.b_o)

    totals = np.loadtxt(totals_path, dtype=np.int64, ndmin=1)
    ph = np.loadtxt(phases_path, dtype=np.int64, ndmin=2)
    if totals.size != steps or ph.shape != (steps, len(PHASE_NAMES) + 1):
        raise PyrtrlError(f"{board}: the plugins saw {totals.size} / {ph.shape[0]} steps, expected {steps}")
    dev_macs = np.array([r.macs for r in records], dtype=np.int64)
    macs, rls_macs = spec_macs(model, lr, dict(settings, influence_bits=influence_bits), xq, tq)
    if not np.array_equal(macs.sum(axis=1), dev_macs):
        bad = int(np.flatnonzero(macs.sum(axis=1) != dev_macs)[0])
        raise PyrtrlError(f"{board} {name}: step {bad}: the device counted {dev_macs[bad]} MACs, "
                          f"the specification's phases {macs[bad].sum()}")

    sel = slice(warmup, steps)
    nsel = steps - warmup
    # per phase, instructions per step (the steps after the warm-up) of each function, and of
    # each function with the helpers it called (__aeabi_lmul, memcpy); static functions of
    # the same name (rtrl_sat32) summed
    funcs: Dict[str, Dict[str, float]] = {p: {} for p in PHASE_NAMES}
    owners: Dict[str, Dict[str, float]] = {p: {} for p in PHASE_NAMES}
    for line in funcs_path.read_text().splitlines():
        p, count, fn, owner = line.split()
        for d, key in ((funcs, fn), (owners, owner)):
            f = d[PHASE_NAMES[int(p)]]
            f[key] = f.get(key, 0.0) + int(count) / nsel
    per_phase = ph[sel, 1:].mean(axis=0)
    return {
        "board": board, "cpu": get_board(board).cpu, "config": name, "model_of": model_of or board,
        "hidden": model.n,
        "params": int(hello.params),
        "density": round(model.density(), 4), "eps": float(model.eps), "readout": model.readout,
        "taps": model.taps, "readout_rule": readout_rule, "optimizer": optimizer, "horizon": horizon,
        "influence_bits": influence_bits, "lr": lr, "steps": steps, "warmup": warmup,
        "instructions_per_step": float(totals[sel].mean()),
        "instructions_min": int(totals[sel].min()), "instructions_max": int(totals[sel].max()),
        "phases": {p: float(v) for p, v in zip(PHASE_NAMES, per_phase)},
        "phase_nonzero_steps": {p: int((ph[sel, 1 + i] > 0).sum()) for i, p in enumerate(PHASE_NAMES)},
        # the two plugins' counts of every step agree (the split loses nothing)
        "split_equals_total": bool(np.array_equal(ph[:, 0], totals) and np.array_equal(ph[:, 1:].sum(axis=1), totals)),
        "macs_per_step": float(dev_macs[sel].mean()),
        "macs": {p: float(v) for p, v in zip(PHASE_NAMES, macs[sel].mean(axis=0))},
        # of the readout + gradient's: the RLS step's (the rest is the cell gradient's, rows x L)
        "macs_rls": float(rls_macs[sel].mean()),
        "events_per_step": float(np.mean([r.events for r in records][warmup:])),
        "active_cols_per_step": float(np.mean([r.active_cols for r in records][warmup:])),
        "functions_per_step": funcs,
        "functions_with_helpers_per_step": owners,
        "weights_match_host": bool(weights_match), "wall_seconds": wall,
    }


# -- rendering ------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    from pyrtrl.benchmarks.document import fmt

    return fmt(v)


def text_table(rows: Sequence[Dict[str, Any]]) -> str:
    head = ["board", "config", "n"] + list(PHASE_NAMES) + ["total", "MACs", "instr/MAC", "split ok", "bit-exact"]
    lines = ["  ".join(head)]
    for r in rows:
        lines.append("  ".join([r["board"], r["config"], str(r["hidden"])]
                               + [f"{r['phases'][p]:.0f}" for p in PHASE_NAMES]
                               + [f"{r['instructions_per_step']:.0f}", f"{r['macs_per_step']:.0f}",
                                  f"{r['instructions_per_step'] / max(r['macs_per_step'], 1):.1f}",
                                  str(r["split_equals_total"]), str(r["weights_match_host"])]))
    return "\n".join(lines)


def ratio_rows(rows: Sequence[Dict[str, Any]], reference: str) -> List[Dict[str, Any]]:
    """Per configuration and board of a same-model run: instructions per step by phase and in
    total, and each as a ratio to the ``reference`` board's on the same configuration (None
    where the reference was not measured or spent nothing in the phase)."""
    ref = {r["config"]: r for r in rows if r["board"] == reference}
    out = []
    for r in rows:
        b = ref.get(r["config"])
        ph = {p: (r["phases"][p] / b["phases"][p] if b and b["phases"][p] else None) for p in PHASE_NAMES}
        out.append({"board": r["board"], "config": r["config"], "hidden": r["hidden"],
                    "instructions_per_step": r["instructions_per_step"],
                    "ratio": r["instructions_per_step"] / b["instructions_per_step"] if b else None,
                    "phase_ratio": ph})
    return out


def ratio_table(rows: Sequence[Dict[str, Any]], reference: str) -> str:
    head = ["config", "board", "n"] + list(PHASE_NAMES) + ["total", f"x {reference}"]
    lines = ["  ".join(head)]
    for r, q in zip(rows, ratio_rows(rows, reference)):
        cells = []
        for p in PHASE_NAMES:
            x = q["phase_ratio"][p]
            cells.append(f"{r['phases'][p]:.0f}" + (f" ({x:.2f})" if x is not None and r["board"] != reference else ""))
        lines.append("  ".join([r["config"], r["board"], str(r["hidden"])] + cells
                               + [f"{r['instructions_per_step']:.0f}",
                                  f"{q['ratio']:.2f}" if q["ratio"] is not None else "-"]))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boards", nargs="+", default=list(BOARDS))
    ap.add_argument("--configs", nargs="+", default=[c[0] for c in CONFIGS],
                    help=f"of {[c[0] for c in CONFIGS]}")
    ap.add_argument("--steps", type=int, default=300, help="PPG steps streamed (default 300)")
    ap.add_argument("--warmup", type=int, default=50, help="first steps left out of the means (default 50)")
    ap.add_argument("--influence-bits", type=int, default=RD.INFLUENCE_BITS, choices=(16, 32))
    ap.add_argument("--git-head", action="store_true", help="build from the committed sources (git archive HEAD)")
    ap.add_argument("--work", help="build directory (default: a temporary one)")
    ap.add_argument("--out", help="write the results as JSON here (e.g. docs/bench/phase_profile.json)")
    ap.add_argument("--doc", help="re-render the phase section of this benchmarks.md from --out")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--same-model", metavar="BOARD",
                    help="also run, on every board, the model a learning run on BOARD picks (e.g. "
                         "microbit: the largest that fits 16 KiB), for a like-for-like comparison; "
                         "the JSON's same_model rows, with ratios to --ratio-to")
    ap.add_argument("--same-model-only", action="store_true",
                    help="with --same-model: skip each board's own model")
    ap.add_argument("--ratio-to", default="mps2-an386", metavar="BOARD",
                    help="the reference board of the same-model ratios (default mps2-an386)")
    a = ap.parse_args(argv)
    if a.same_model_only and not a.same_model:
        ap.error("--same-model-only needs --same-model")
    configs = {c[0]: c for c in CONFIGS}
    unknown = [c for c in a.configs if c not in configs]
    if unknown or not 0 <= a.warmup < a.steps:
        ap.error(f"unknown configs {unknown}" if unknown else "need 0 <= warmup < steps")
    tmp = None
    work = Path(a.work) if a.work else Path(tmp := tempfile.mkdtemp(prefix="phase-profile-"))
    try:
        source, commit = None, None
        if a.git_head:
            source = work / "src"
            commit = _git_head_tree(source)
        else:
            commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                    text=True).stdout.strip() or None
            dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "runtime_c", "firmware"],
                                   capture_output=True, text=True).stdout.strip()
            if dirty:
                commit = f"{commit} with uncommitted changes in runtime_c/ or firmware/"
        rows: List[Dict[str, Any]] = []
        same: List[Dict[str, Any]] = []
        for c in a.configs if a.same_model else ():
            for board in a.boards:
                print(f"{board} {c} (model of {a.same_model}) ...", file=sys.stderr, flush=True)
                same.append(profile(board, configs[c], a.steps, a.warmup,
                                    work / ("same-" + board + "-" + re.sub(r"[^A-Za-z0-9]+", "_", c)), source,
                                    a.influence_bits, model_of=a.same_model))
        for board in () if a.same_model_only else a.boards:
            for c in a.configs:
                # the same-model run of the model's own board is this row
                mine = [r for r in same if r["board"] == board == a.same_model and r["config"] == c]
                if mine:
                    rows.append(mine[0])
                    continue
                print(f"{board} {c} ...", file=sys.stderr, flush=True)
                rows.append(profile(board, configs[c], a.steps, a.warmup,
                                    work / (board + "-" + re.sub(r"[^A-Za-z0-9]+", "_", c)), source, a.influence_bits))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    from pyrtrl.benchmarks.document import _machine

    res = {"command": "python tools/phase_profile.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M"), "machine": _machine(), "commit": commit,
           "qemu": subprocess.run(["qemu-system-arm", "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0] if shutil.which("qemu-system-arm") else None,
           "rows": rows}
    if a.same_model:
        res["same_model"] = {"model_of": a.same_model, "reference": a.ratio_to, "rows": same,
                             "ratios": ratio_rows(same, a.ratio_to)}
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.doc:
        if not a.out:
            ap.error("--doc needs --out (the section is rendered from the JSON file)")
        from pyrtrl.benchmarks.document import phase_profile_md, splice_section

        doc = Path(a.doc)
        doc.write_text(splice_section(doc.read_text(), phase_profile_md(Path(a.out))))
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        if rows:
            print(text_table(rows))
        if same:
            print(f"\nthe same model on every board (the model of {a.same_model}), ratio to {a.ratio_to}:")
            print(ratio_table(same, a.ratio_to))
    return 0 if all(r["split_equals_total"] and r["weights_match_host"] for r in rows + same) else 1


if __name__ == "__main__":
    sys.exit(main())
