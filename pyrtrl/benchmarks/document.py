"""``pyrtrl bench --all``: regenerate docs/benchmarks.md, its figures and the README table.

One run measures everything the document prints (cost surface, growth, host speed, device,
fidelity), writes the raw numbers to ``<out>/bench/results.json``, the figures to
``<out>/bench/*.png`` (with their titles and axis labels in ``<out>/bench/figures.json``),
the document to ``<out>/benchmarks.md`` and a short table for the README to
``<out>/benchmarks_readme_table.md``. :func:`check_outputs` verifies the result (files,
tables, figures, growth criterion, README numbers present in the document); the quick
variant runs in the test suite.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .bench import DENSITY, EPS, HIDDEN, MASKS, bench_config, grid

#: (density, eps, shared) of the growth fit and the host speed table
GROWTH_CFG = (0.2, 0.2, True)
#: the growth criterion: fitted exponent of dense RTRL minus that of sparse RTRL
MIN_EXPONENT_GAP = 1.0
BPTT_T = (100, 1000, 10000)
FIXED_DEVICE_MODEL = dict(hidden=16, density=0.2, eps=0.2, shared_mask=True, seed=0)
#: how the device section's models learn (events readout, no taps: the readout the cost
#: surface measures), the same on the board, in the planner's largest model and on the host
DEVICE_LEARNING = dict(lr=0.1, readout_rule="gradient")

#: per hidden size: training and timing of the cost surface (same for every config of a size)
FULL_PLAN: Dict[str, Any] = {
    "configs": grid(HIDDEN + (128,), DENSITY, EPS, MASKS),
    "bench_kw": {16: dict(train_steps=1500, warmup=100, window=200, repeats=3),
                 32: dict(train_steps=1500, warmup=100, window=200, repeats=3),
                 64: dict(train_steps=1500, warmup=100, window=100, repeats=2),
                 128: dict(train_steps=300, warmup=30, window=10, repeats=1)},
    "device_steps": 300, "largest_steps": 50, "largest_on_device": True,
    "fidelity": [(n, dn, ep) for n in (16, 32, 64) for dn in (0.5, 0.2) for ep in (0.5, 0.2)],
    "fidelity_steps": 2000, "cosine_steps": 100, "boards": None,
}
QUICK_PLAN: Dict[str, Any] = {
    "configs": [(n, 0.2, 0.2, True) for n in (16, 32, 64, 128)]
    + [(16, 1.0, 0.2, True), (16, 0.2, 0.2, False), (32, 0.5, 0.5, True)],
    # the full plan's training and warm-up (same models, same activity), shorter timing
    "bench_kw": {**{n: dict(train_steps=1500, warmup=100, window=50, repeats=1) for n in (16, 32, 64)},
                 128: dict(train_steps=300, warmup=30, window=10, repeats=1)},
    "device_steps": 40, "largest_steps": 0, "largest_on_device": False,
    "fidelity": [(16, 0.5, 0.5), (32, 0.2, 0.2)],
    "fidelity_steps": 300, "cosine_steps": 40, "boards": ["mps2-an386"],
}


#: runtime_c's influence row kernels as the phase profile names them (rtrl_row_update with
#: row_quads inlined, and row_part; row_full before issue 14's blocked layout; on the
#: Cortex-M0 rtrl_row_split and its column-pair loop rtrl_split2_m0 / rtrl_split2_c)
ROW_KERNELS = ("rtrl_row_update", "row_quads", "row_part", "row_full", "rtrl_row_split", "rtrl_split2_m0",
               "rtrl_split2_c")
#: runtime_c's RLS step (rtrl_rls.c; on cores without a widening multiply the entry helpers,
#: the triangle's passes and the gain's dot product, rtrl_mul.c), by function name without
#: the compiler's clone suffix (".constprop.0")
RLS_FUNCS = ("rtrl_rls_update", "gain", "rtrl_sat32", "p_minus", "p_scale", "minus_row", "minus_slow",
             "scale_all", "scale_slow", "scale_run", "copy_col", "tri_row", "rtrl_dot_split_m0",
             "rtrl_dot_split_c")


def _fsum(fs: Dict[str, float], names) -> float:
    """Instructions of the functions in names (a clone "f.constprop.0" counts as f)."""
    return sum(v for k, v in fs.items() if k.split(".")[0] in names)

def fmt(x: float) -> str:
    """Every number in the document and the README table goes through here (3 significant digits)."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)) or float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.3g}"


def fit_exponent(n: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log n."""
    return float(np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(y, float)), 1)[0])


# -- measurements --------------------------------------------------------------------------
def cost_surface(plan: Dict[str, Any], progress: bool = True) -> List[dict]:
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    rows = []
    with threadpool_limits(limits=1):
        for cfg in tqdm(plan["configs"], desc="cost surface", unit="config", disable=not progress):
            t0 = time.perf_counter()
            r = asdict(bench_config(*cfg, **plan["bench_kw"][cfg[0]]))
            r["seconds"] = time.perf_counter() - t0
            rows.append(r)
    return rows


def growth(rows: List[dict]) -> Dict[str, Any]:
    dn, ep, sh = GROWTH_CFG
    sel = sorted((r for r in rows if (r["density"], r["eps"], r["shared_mask"]) == (dn, ep, sh)),
                 key=lambda r: r["hidden"])
    n = [r["hidden"] for r in sel]
    out: Dict[str, Any] = {"hidden": n, "density": dn, "eps": ep, "shared_mask": sh}
    for key in ("macs_full", "macs_dense", "macs_sparse", "macs_bptt", "macs_bptt_pruned"):
        out[key] = [r[key] for r in sel]
        out["exp_" + key[5:]] = fit_exponent(n, out[key]) if len(n) >= 2 else float("nan")
    out["gap"] = out["exp_dense"] - out["exp_sparse"]
    out["criterion_met"] = bool(out["gap"] >= MIN_EXPONENT_GAP)
    return out


def _elf_size(elf: Path, board: str) -> Dict[str, int]:
    from ..boards import get_board

    tool = "riscv64-unknown-elf-size" if get_board(board).target.startswith("rv") else "arm-none-eabi-size"
    r = subprocess.run([tool, str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in r.stdout.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def _device_run(board: str, model, steps: int, work: Path, tag: str) -> Dict[str, Any]:
    from ..runs.device import run_on_device
    from ..core.model_file import save_model

    d = work / f"{board}-{tag}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    save_model(d / "model.npz", model)
    t0 = time.perf_counter()
    s = run_on_device(board, steps=steps, out_dir=str(d / "run"), progress=False,
                      model_path=str(d / "model.npz"), report=False, **DEVICE_LEARNING)
    s["size"] = _elf_size(d / "run" / "firmware_build" / board / "learner.elf", board)
    s["seconds"] = time.perf_counter() - t0
    return s


def _device_run_retry(board: str, model, steps: int, work: Path, tag: str, attempts: int = 3) -> Dict[str, Any]:
    """:func:`_device_run`, tried again when the host link fails (seen once on netduinoplus2:
    the socket closed after the last step); the number of failed attempts is recorded."""
    from ..errors import PyrtrlError

    errors = []
    for _ in range(attempts):
        try:
            s = _device_run(board, model, steps, work, tag)
            s["failed_attempts"] = errors
            return s
        except PyrtrlError as e:
            errors.append(str(e))
            print(f"device: {board} {tag} failed, retrying: {e}", file=sys.stderr)
    raise PyrtrlError(f"{board} {tag}: {attempts} attempts failed; last: {errors[-1]}")


def device(plan: Dict[str, Any], work: Path, progress: bool = True) -> Dict[str, Any]:
    from ..boards import BOARDS
    from ..deploy.budget import budget_for_model, largest_hidden
    from ..core.model import init_egru
    from ..deploy.runtime import CLearner
    from ..data.signals import forecasting_stream, load_signal
    from ..fixed.quantize import quantize_samples

    fm = FIXED_DEVICE_MODEL
    fixed = init_egru(fm["hidden"], 1, 1, density=fm["density"], shared_mask=fm["shared_mask"],
                      eps=fm["eps"], seed=fm["seed"])
    boards = [b for b in BOARDS if plan["boards"] is None or b.name in plan["boards"]]
    out: Dict[str, Any] = {"fixed_model": fm, "steps": plan["device_steps"],
                           "largest_steps": plan["largest_steps"], "boards": []}
    sig = load_signal("ppg", max_steps=201)
    x, t = forecasting_stream(sig)
    xq, tq = (quantize_samples(a)[0].astype(np.int32) for a in (x[:200], t[:200]))
    for b in boards:
        row: Dict[str, Any] = {"board": b.name, "cpu": b.cpu, "clock_hz": b.clock_hz,
                               "ram_bytes": b.ram_bytes, "flash_bytes": b.flash_bytes}
        missing = [tl for tl in (b.qemu, "make") if shutil.which(tl) is None]
        if missing:
            row["skipped"] = f"missing {missing}"
            out["boards"].append(row)
            continue
        if progress:
            print(f"device: {b.name} (n={fm['hidden']}, {plan['device_steps']} steps)", file=sys.stderr)
        s = _device_run_retry(b.name, fixed, plan["device_steps"], work, "fixed")
        row["fixed"] = {k: s[k] for k in ("instructions_per_step", "instructions_min", "instructions_max",
                                          "learner_ram_bytes", "ram_used_bytes", "macs_per_step",
                                          "weights_match_host", "final_loss", "size", "seconds",
                                          "fwd_activity", "failed_attempts")}
        row["fixed"]["rate_hz_est"] = b.clock_hz / s["instructions_per_step"]
        nmax = largest_hidden(b, 1, 1, 0.2, True, 16, readout_rule=DEVICE_LEARNING["readout_rule"])
        big = init_egru(nmax, 1, 1, density=0.2, shared_mask=True, eps=0.2, seed=0)
        lrow: Dict[str, Any] = {"hidden": nmax, "params": big.num_params(cell_only=True),
                                "budget_ram": budget_for_model(big, 16, readout_rule=DEVICE_LEARNING["readout_rule"]).total_ram}
        c = CLearner(big, influence_bits=16, **DEVICE_LEARNING)
        c.run_fixed(xq, tq)
        cc = c.counters()
        lrow["host_c_macs_per_step"] = cc.macs / cc.steps
        lrow["host_c_steps"] = int(cc.steps)
        if plan["largest_on_device"]:
            if progress:
                print(f"device: {b.name} largest n={nmax} ({plan['largest_steps']} steps)", file=sys.stderr)
            s = _device_run_retry(b.name, big, plan["largest_steps"], work, "largest")
            lrow.update({k: s[k] for k in ("instructions_per_step", "learner_ram_bytes", "ram_used_bytes",
                                           "macs_per_step", "weights_match_host", "size", "seconds",
                                           "failed_attempts")})
            lrow["rate_hz_est"] = b.clock_hz / s["instructions_per_step"]
        row["largest"] = lrow
        out["boards"].append(row)
    return out


def fidelity(plan: Dict[str, Any], progress: bool = True) -> List[dict]:
    """Fixed point (16/32-bit influence) against float: gradient cosine and final loss."""
    from ..core.bptt import forward_sequence
    from ..fixed import FixedLearner, fixed_config, quantize_samples
    from ..core.gradcheck import flat
    from ..core.gradients import gradients
    from ..core.learner import OnlineLearner
    from ..core.model import init_egru
    from ..deploy.deployment import Deployment
    from ..deploy.runtime import CLearner
    from ..data.tasks import delayed_recall

    lr, clip = 0.03, 1.0
    T, Tc = plan["fidelity_steps"], plan["cosine_steps"]
    head = max(1, T // 10)
    rows = []
    for n, dn, ep in plan["fidelity"]:
        if progress:
            print(f"fidelity: n={n} density={dn} eps={ep}", file=sys.stderr)
        model = init_egru(n, 1, 2, density=dn, shared_mask=True, eps=ep, seed=0)
        dep = Deployment.from_model(model)  # quantized once for the numpy and C learners
        row: Dict[str, Any] = {"hidden": n, "density": dn, "eps": ep, "shared_mask": True,
                               "lr": lr, "clip": clip, "steps": T, "cosine_steps": Tc}
        # gradient cosine over Tc steps, no learning (as tools/measure_numerics.py)
        xc, tc = delayed_recall(Tc, seed=7)
        g = flat(gradients(model, xc, tc))
        ref_o = np.array([s.o for s in forward_sequence(model, xc)])
        xcq, tcq = quantize_samples(xc)[0], quantize_samples(tc)[0]
        for bits in (32, 16):
            f = FixedLearner(dep.quantized, fixed_config(1.0, 0.0, 65535, bits))
            ev = []
            for t in range(Tc):
                f.step(xcq[t], tcq[t])
                ev.append(f.o.copy())
            vf = flat(f.gradient())
            row[f"cos{bits}"] = float(vf @ g / np.linalg.norm(vf) / np.linalg.norm(g))
            row[f"flips{bits}"] = int((np.array(ev) != ref_o).sum())
        # final loss: float SGD (clip by value) vs the C learner, same lr, same stream
        x, tg = delayed_recall(T, seed=1)
        fl = OnlineLearner(model.copy(), lr=lr, optimizer="sgd", clip=clip, clip_mode="value")
        lf = fl.run(x, tg).loss
        row["loss0_float"] = float(lf[:head].mean())
        row["loss_float"] = float(lf[-head:].mean())
        for bits in (32, 16):
            c = CLearner(dep, lr=lr, clip=clip, influence_bits=bits)
            lc = c.run(x, tg).loss
            row[f"loss{bits}"] = float(lc[-head:].mean())
            row[f"sat{bits}"] = int(c.counters().saturations)
        rows.append(row)
    return rows


# -- figures ---------------------------------------------------------------------------------
def _save(fig, ax_list, path: Path, manifest: Dict[str, Any]) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    manifest[path.name] = [{"title": a.get_title(), "xlabel": a.get_xlabel(), "ylabel": a.get_ylabel()}
                           for a in ax_list]
    import matplotlib.pyplot as plt

    plt.close(fig)


def _int_ticks(ax, values, fmt: str = "{:.0f}") -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(list(values), [fmt.format(v) for v in values])
    ax.xaxis.set_minor_formatter(NullFormatter())


def rerender(out: str) -> Dict[str, Any]:
    """Figures, document and README table again from ``<out>/bench/results.json`` (no measuring)."""
    outp = Path(out)
    res = json.loads((outp / "bench" / "results.json").read_text())
    figures(res, outp / "bench")
    write_docs(res, outp)
    return res


def figures(res: Dict[str, Any], figdir: Path) -> Dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    man: Dict[str, Any] = {}
    gr = res["growth"]
    n = np.array(gr["hidden"], float)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for key, label, mk in (("full", "dense RTRL, unpruned", "s"), ("dense", "dense RTRL, pruned", "o"),
                           ("sparse", "sparse RTRL (counters)", "^"), ("bptt", "BPTT as implemented", "v"),
                           ("bptt_pruned", "BPTT over kept weights", "x")):
        y = np.array(gr["macs_" + key], float)
        e = gr["exp_" + key]
        ax.loglog(n, y, marker=mk, label=f"{label}: n^{e:.2f}")
        c = np.exp(np.mean(np.log(y) - e * np.log(n)))
        ax.loglog(n, c * n ** e, ls=":", color=ax.lines[-1].get_color(), lw=1)
    _int_ticks(ax, n)
    ax.set_xlabel("hidden units n")
    ax.set_ylabel("MACs per step")
    ax.set_title(f"Growth at density {gr['density']}, eps {gr['eps']}, shared masks")
    ax.legend(fontsize=8)
    _save(fig, [ax], figdir / "growth.png", man)

    rows = res["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, shared in zip(axes, (True, False)):
        for hid in sorted({r["hidden"] for r in rows}):
            for ep, ls in ((0.2, "-"), (1.0, "--")):
                sel = sorted((r for r in rows if r["hidden"] == hid and r["eps"] == ep
                              and r["shared_mask"] == shared), key=lambda r: r["density"])
                if sel:
                    ax.loglog([r["density"] for r in sel], [r["macs_full"] / r["macs_sparse"] for r in sel],
                              ls=ls, marker="o", label=f"n={hid}, eps={ep}")
        _int_ticks(ax, sorted({r["density"] for r in rows}), fmt="{:g}")
        ax.set_xlabel("density (kept weight fraction)")
        ax.set_ylabel("MACs: unpruned dense RTRL / sparse RTRL")
        ax.set_title(f"Cost reduction, {'shared' if shared else 'independent'} masks")
        if ax.lines:
            ax.legend(fontsize=7)
    _save(fig, list(axes), figdir / "cost_surface.png", man)

    mem = res["memory"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    T = np.array([10, 100, 1000, 10000, 100000], float)
    ax.loglog(T, mem["bptt_bytes_per_step"] * T, marker="o", label="BPTT (stored forward values)")
    for key, label in (("influence_bytes", "dense RTRL influence (float64)"),
                       ("sparse_live_bytes", "sparse RTRL live columns (float64)"),
                       ("c_ram_bytes16", "runtime_c learner buffer (16-bit)")):
        ax.loglog(T, np.full_like(T, mem[key]), ls="--", label=label)
    ax.set_xlabel("sequence length T (steps)")
    ax.set_ylabel("bytes")
    ax.set_title(f"Memory vs sequence length, n={mem['hidden']}, density {mem['density']}")
    ax.legend(fontsize=8)
    _save(fig, [ax], figdir / "memory.png", man)

    hs = res["host_speed"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for key, label in (("us_dense", "numpy dense RTRL"), ("us_sparse", "numpy sparse RTRL"),
                       ("us_c_dense", "C runtime, dense mode"), ("us_c_sparse", "C runtime, sparse")):
        ax.loglog(hs["hidden"], hs[key], marker="o", label=label)
    _int_ticks(ax, hs["hidden"])
    ax.set_xlabel("hidden units n")
    ax.set_ylabel("microseconds per step (1 thread)")
    ax.set_title("Host speed, density 0.2, eps 0.2, shared masks")
    ax.legend(fontsize=8)
    _save(fig, [ax], figdir / "host_speed.png", man)

    dev = [b for b in res["device"]["boards"] if "fixed" in b]
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    if dev:
        ax.bar([b["board"] for b in dev], [b["fixed"]["instructions_per_step"] for b in dev])
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_xlabel("board (QEMU)")
    ax.set_ylabel("instructions per learning step")
    ax.set_title(f"Device cost, same n={FIXED_DEVICE_MODEL['hidden']} model on every board")
    _save(fig, [ax], figdir / "device.png", man)

    fid = res["fidelity"]
    fig, ax = plt.subplots(figsize=(5.6, 5))
    for bits, mk in ((32, "o"), (16, "x")):
        ax.scatter([r["loss_float"] for r in fid], [r[f"loss{bits}"] for r in fid], marker=mk,
                   label=f"{bits}-bit influence")
    lo = min([r["loss_float"] for r in fid] + [r["loss16"] for r in fid]) * 0.95
    hi = max([r["loss_float"] for r in fid] + [r["loss16"] for r in fid]) * 1.05
    ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="equal")
    ax.set_xlabel("final loss, float learner (SGD)")
    ax.set_ylabel("final loss, C fixed-point learner")
    ax.set_title("Fidelity: fixed point vs float")
    ax.legend(fontsize=8)
    _save(fig, [ax], figdir / "fidelity.png", man)
    with open(figdir / "figures.json", "w") as f:
        json.dump(man, f, indent=1)
    return man


# -- document ------------------------------------------------------------------------------
def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in r) + " |")
    return "\n".join(lines) + "\n"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def _mask(r: dict) -> str:
    return "shared" if r["shared_mask"] else "indep"


def readme_table(res: Dict[str, Any]) -> List[List[str]]:
    """The README's rows: (what, value) with every number formatted as in the document."""
    h = {r["hidden"]: r for r in res["host_speed"]["rows"]}
    n0 = 64 if 64 in h else max(h)
    r = h[n0]
    gr = res["growth"]
    rows = [
        [f"MACs/step, n={n0}, density 0.2, eps 0.2, shared: unpruned dense / pruned dense / sparse RTRL",
         f"{fmt(r['macs_full'])} / {fmt(r['macs_dense'])} / {fmt(r['macs_sparse'])}"],
        ["MACs/step, same model, BPTT as implemented (amortised)", fmt(r["macs_bptt"])],
        [f"Host us/step, n={n0}: numpy dense / numpy sparse / C sparse (1 thread)",
         f"{fmt(r['us_dense'])} / {fmt(r['us_sparse'])} / {fmt(r['us_c_sparse'])}"],
        ["Fitted growth exponent of MACs/step in n: dense / sparse RTRL",
         f"{gr['exp_dense']:.2f} / {gr['exp_sparse']:.2f}"],
        [f"Memory, n={n0}: C learner buffer (16-bit) vs BPTT at T=10000 (bytes)",
         f"{fmt(r['c_ram_bytes16'])} vs {fmt(r['bptt_bytes_per_step'] * 10000)}"],
    ]
    dev = [b for b in res["device"]["boards"] if "fixed" in b]
    if dev:
        b = next((b for b in dev if b["board"] == "mps2-an386"), dev[0])
        fm = FIXED_DEVICE_MODEL
        rows.append([f"{b['board']} ({b['cpu']}), n={fm['hidden']} model: instructions/step, "
                     f"est. max sample rate at {fmt(b['clock_hz'] / 1e6)} MHz",
                     f"{fmt(b['fixed']['instructions_per_step'])}, {fmt(b['fixed']['rate_hz_est'])} Hz"])
        lg = b["largest"]
        rows.append([f"Largest model on {b['board']} (density 0.2, shared, 16-bit): hidden, learner RAM",
                     f"{lg['hidden']}, {fmt(lg['budget_ram'])} B"])
    fid = res["fidelity"]
    worst = max(fid, key=lambda f: abs(f["loss16"] - f["loss_float"]) / f["loss_float"])
    rows.append(["Fidelity, 16-bit influence, worst of the grid: 1 - gradient cosine vs float; "
                 "final loss C vs float",
                 f"{max(1 - f['cos16'] for f in fid):.2e}; {fmt(worst['loss16'])} vs {fmt(worst['loss_float'])}"])
    return rows


def kernel_speed_md(path: Path) -> str:
    """Section 3's vector-kernel paragraph from ``tools/kernel_speed.py --out`` (its own run,
    kept in docs/bench/kernel_speed.json: the vector kernel and the portable loops timed
    together on one host, which the rest of this run does not do)."""
    head = "\n### Vector kernel against the portable loops\n\n"
    if not path.is_file():
        return head + ("Not measured in this output directory: `OMP_NUM_THREADS=1 "
                       "OPENBLAS_NUM_THREADS=1 python tools/kernel_speed.py --out "
                       f"{path.parent.name}/{path.name}` writes it.\n")
    ks = json.loads(path.read_text())
    kn = ks["rows"][0]["kernels"]["native"] if ks["rows"] else "?"
    env = " ".join(f"{k}={v}" for k, v in ks["threads"].items() if v is not None) or "not pinned"
    sp = [r["us_c_sparse"]["portable"] / r["us_c_sparse"]["native"] for r in ks["rows"]]
    dn = [r["us_c_dense"]["portable"] / r["us_c_dense"]["native"] for r in ks["rows"]]
    text = (head + f"On this host the {kn} kernel is {min(sp):.1f}-{max(sp):.1f}x faster than "
            f"the portable loops in sparse mode and {min(dn):.1f}-{max(dn):.1f}x in dense mode, "
            "with the same integers. "
            f"Measured {ks['date']} on {ks['machine']} by `{env} {ks['command']}`, "
            "a separate run from the tables above. The installed binding "
            f"(kernel **{kn}**, -O3 -march=native, RTRL_CHUNK 32) and the same sources built with "
            "-DRTRL_NO_SIMD (the portable loops, same flags otherwise) run the same window of the "
            "same briefly trained model (as in section 1), repeats interleaved, fastest of "
            f"{ks['repeats']} kept; both builds' influence matrices, gradients and counters are "
            "compared after the window and are identical. G MAC/s: the numpy sparse engine's "
            "counted MACs per step (`macs_sparse`) over the vector kernel's time. numpy sparse "
            "is timed once, on a loaded 2-core host, so its ratio is the least steady.\n\n")
    rows = [[r["hidden"], r["density"], r["eps"], r["bits"], r["us_c_sparse"]["portable"],
             r["us_c_sparse"]["native"], r["us_c_sparse"]["portable"] / r["us_c_sparse"]["native"],
             r["us_c_dense"]["portable"], r["us_c_dense"]["native"],
             r["us_c_dense"]["portable"] / r["us_c_dense"]["native"],
             r["us_numpy_sparse"] / r["us_c_sparse"]["native"],
             r["macs_sparse"] / r["us_c_sparse"]["native"] / 1e3] for r in ks["rows"]]
    return text + _table(["hidden", "density", "eps", "bits", "C sparse portable", f"C sparse {kn}",
                          "speed-up", "C dense portable", f"C dense {kn}", "speed-up",
                          f"numpy sparse / C sparse {kn}", f"G MAC/s {kn}"], rows)


PHASE_HEAD = "\n### Instructions per step by phase\n"
#: the phases of docs/bench/phase_profile.json (tools/phase_profile.py), in step order
PHASE_COLUMNS = (("step", "top level"), ("forecast", "forecast"), ("forward", "forward"),
                 ("influence", "influence"), ("readout+gradient", "readout + gradient"),
                 ("update", "update"))


def _k(v: float) -> str:
    return f"{v / 1e3:.1f} k" if v >= 1e3 else f"{v:.0f}"


def phase_profile_md(path: Path) -> str:
    """Section 4's per-phase instruction tables from ``tools/phase_profile.py --out`` (its
    own run under QEMU, kept in docs/bench/phase_profile.json)."""
    if not path.is_file():
        return PHASE_HEAD + ("\nNot measured in this output directory: `python tools/phase_profile.py "
                             f"--git-head --out {path.parent.name}/{path.name}` writes it.\n")
    pp = json.loads(path.read_text())
    rows = pp["rows"]
    if not rows:
        return PHASE_HEAD + "\nNo board measured.\n"
    r0 = rows[0]
    L: List[str] = [PHASE_HEAD]
    a = L.append
    a(f"Measured {pp['date']} on {pp['machine']} ({pp.get('qemu') or 'QEMU'}) by `{pp['command']}` at "
      f"commit {pp['commit']}, a separate run from the tables above. Each board runs the default "
      "model of a learning run (`pyrtrl.runs.device.default_model`: hidden 32, or the largest that fits "
      "the board with that configuration's readout rule and optimizer; density 0.2, eps 0.2, "
      "shared masks, c readout with 16 input taps, 16-bit influence) on the recorded PPG signal "
      f"for {r0['steps']} steps; the means are over steps {r0['warmup']} to {r0['steps']}. "
      "Configurations: `default` (RLS readout, SGD: pyrtrl.run_defaults), `adam` (optimizer "
      "Adam), `gradient readout` (the readout learned by SGD instead of RLS), `horizon 8` "
      "(default with a forecast 8 steps ahead: the forecast phase runs), `y readout, no taps` "
      "(the readout reads the events y and no input taps, learned by SGD: the readout before "
      "run_defaults chose c, taps and RLS).\n")
    a("Method: two QEMU TCG plugins loaded side by side observe the unmodified learner firmware "
      "(the ELF `pyrtrl run` builds). `stepcount.so` counts the step's instructions between the "
      "learner's markers, as `pyrtrl run` does; `phasecount.so` (tools/qemu_plugin/phasecount.c) "
      "attributes each executed block to the phase whose function (rtrl_forecast, rtrl_forward, "
      "rtrl_influence, rtrl_gradient, rtrl_update; addresses from `nm -S` of the ELF) was "
      "entered last from the step's top level, until code of rtrl_step.c runs again: a phase "
      "includes what it calls (libgcc's 64-bit multiply `__aeabi_lmul` on the M0, memcpy, the "
      "RLS step inside readout + gradient, the forecast's own forward pass), and `top level` "
      "is rtrl_step_labelled's own work (checks, input ring, calls). Counts are exact "
      "executed instructions, not cycles. In every row the phases of every step add up to "
      "stepcount.so's count of that step exactly, and the device's weights after the run equal "
      "the host C library's bit for bit (the plugins change nothing). MACs per phase come from "
      "the library's specification (pyrtrl.fixed) run on the same stream, whose per-step total "
      "equals the device's MAC counter at every step. Cells: instructions per step, and in "
      "brackets per MAC where the phase does at least 5 % of the step's MACs.\n")
    boards = list(dict.fromkeys(r["board"] for r in rows))
    for b in boards:
        br = [r for r in rows if r["board"] == b]
        a(f"\n#### {b} ({br[0]['cpu']})\n")
        body = []
        for r in br:
            cells = []
            for p, _ in PHASE_COLUMNS:
                v, m = r["phases"][p], r["macs"][p]
                cells.append(_k(v) + (f" ({v / m:.1f})" if m >= 0.05 * r["macs_per_step"] and m > 0 else ""))
            body.append([r["config"], r["hidden"], r["params"], r["macs_per_step"]] + cells
                        + [_k(r["instructions_per_step"]), f"{r['instructions_min']}-{r['instructions_max']}",
                           f"{r['instructions_per_step'] / r['macs_per_step']:.1f}"])
        a(_table(["config", "n", "P", "MACs/step"] + [h for _, h in PHASE_COLUMNS]
                 + ["total", "min-max", "instr/MAC"], body))
    same = pp.get("same_model")
    if same and same.get("rows"):
        ref = same["reference"]
        a(f"\n#### The same model on every board (the model of {same['model_of']}), as a ratio to {ref}\n")
        a(f"`--same-model {same['model_of']}`: each configuration runs the model a learning run on "
          f"{same['model_of']} picks, on every board; cells are instructions per step and, in "
          f"brackets, the ratio to {ref}'s on the same configuration and phase.\n")
        body = []
        for r, q in zip(same["rows"], same["ratios"]):
            cells = []
            for p, _ in PHASE_COLUMNS:
                x = q["phase_ratio"].get(p)
                cells.append(_k(r["phases"][p]) + (f" ({x:.2f})" if x is not None and r["board"] != ref else ""))
            body.append([r["config"], r["board"], r["hidden"]] + cells + [
                _k(r["instructions_per_step"]), f"{q['ratio']:.2f}" if q["ratio"] is not None else "-"])
        a(_table(["config", "board", "n"] + [h for _, h in PHASE_COLUMNS] + ["total", f"x {ref}"], body))
    # the functions that take the most, default configuration, every board
    dflt = [r for r in rows if r["config"] == "default"]
    if dflt:
        tot: Dict[tuple, float] = {}
        key = "functions_with_helpers_per_step"
        for r in dflt:
            for p, fs in r[key].items():
                for fn, v in fs.items():
                    tot[(p, fn)] = max(tot.get((p, fn), 0.0), v / r["instructions_per_step"])
        top = [k for k, v in sorted(tot.items(), key=lambda kv: -kv[1]) if v >= 0.01][:14]
        a("\nWhere the instructions go, `default` configuration: the functions that take at "
          "least 1 % of the step on some board, instructions per step (share of the step), each "
          "with the libgcc and libc leaves it calls (`__aeabi_lmul`, libgcc's 64-bit multiply: "
          "the M0 has no 32 x 32 -> 64 multiply; memcpy, memset). `step` is the per-parameter "
          "SGD step of rtrl_update.c.\n")

        def cell(r: Dict[str, Any], p: str, fn: str) -> str:
            v = r[key].get(p, {}).get(fn, 0.0)
            return f"{_k(v)} ({100 * v / r['instructions_per_step']:.0f} %)"

        a(_table(["function", "phase"] + [f"{r['board']} (n = {r['hidden']})" for r in dflt],
                 [[fn, p] + [cell(r, p, fn) for r in dflt] for p, fn in top]))
        a(_phase_reading(dflt, rows))
    return "\n".join(L)


def _phase_reading(dflt: List[Dict[str, Any]], rows: List[Dict[str, Any]]) -> str:
    """A few sentences, from the numbers, on where a step's instructions per MAC go."""
    out = ["\nReading (numbers of the tables above)."]
    for r in dflt:
        ph, m, f = r["phases"], r["macs"], r["functions_with_helpers_per_step"]
        tot = r["instructions_per_step"]
        infl, grad = ph["influence"], ph["readout+gradient"]
        kern = _fsum(f["influence"], ROW_KERNELS)
        lmul = sum(fs.get("__aeabi_lmul", 0.0) for fs in r["functions_per_step"].values())
        cell_macs = m["readout+gradient"] - r.get("macs_rls", 0.0)
        gr = f["readout+gradient"].get("rtrl_grad_row", 0.0)
        rls = _fsum(f["readout+gradient"], RLS_FUNCS)
        s = (f"**{r['board']}** ({r['cpu']}, n = {r['hidden']}): {_k(tot)} instructions for "
             f"{fmt(r['macs_per_step'])} MACs, {tot / r['macs_per_step']:.1f} per MAC. The influence "
             f"update is {100 * infl / tot:.0f} % of the step at {infl / max(m['influence'], 1):.1f} per "
             f"MAC: its row kernels ({', '.join(k for k in ROW_KERNELS if k in f['influence'])}) {_k(kern)}, "
             f"{kern / max(m['influence'], 1):.1f} per influence MAC, the rest of the phase (Jacobian, "
             f"Mbar, column bookkeeping, copies) {_k(infl - kern)}. Readout + gradient is "
             f"{100 * grad / tot:.0f} %: the cell gradient's row loop rtrl_grad_row {_k(gr)} for "
             f"{fmt(cell_macs)} MACs ({gr / max(cell_macs, 1):.1f} per MAC: the c readout reaches "
             f"every row, so these are n x live columns), the RLS step {_k(rls)} for "
             f"{fmt(r.get('macs_rls', 0.0))} MACs. Forward, update and top level together: "
             f"{_k(ph['forward'] + ph['update'] + ph['step'])} ({100 * (ph['forward'] + ph['update'] + ph['step']) / tot:.0f} %).")
        if lmul:
            s += (f" Of all this, `__aeabi_lmul` itself is {_k(lmul)} ({100 * lmul / tot:.0f} %): "
                  "a call for every 64-bit product.")
        out.append(s)
    by = {(r["board"], r["config"]): r for r in rows}
    yro = [(r, by[(r["board"], "y readout, no taps")]) for r in dflt if (r["board"], "y readout, no taps") in by]
    if yro:
        out.append("With the y readout and no taps the cell gradient only reaches the rows with "
                   "dy_i a_i != 0 (few: a_i is the pseudo-derivative): readout + gradient is "
                   + "; ".join(f"{_k(y['phases']['readout+gradient'])} on {r['board']} (n = {y['hidden']}, "
                               f"step {_k(y['instructions_per_step'])}, {y['instructions_per_step'] / y['macs_per_step']:.1f} per MAC)"
                               for r, y in yro)
                   + ", so the step is mostly the influence update.")
    adam = [(r, by[(r["board"], "adam")]) for r in dflt if (r["board"], "adam") in by]
    if adam:
        out.append("Adam's update phase against SGD's: " + "; ".join(
            f"{_k(ad['phases']['update'])} against {_k(r['phases']['update'])} on {r['board']}"
            + (f" (n = {ad['hidden']} against {r['hidden']})" if ad["hidden"] != r["hidden"] else "")
            for r, ad in adam) + ".")
    return "\n\n".join(out) + "\n"


def splice_section(md: str, section: str) -> str:
    """``md`` (a benchmarks.md) with its per-phase section replaced by ``section`` (inserted
    at the end of section 4, before section 5, if it has none)."""
    start = md.find(PHASE_HEAD)
    if start >= 0:
        end = md.find("\n## ", start + len(PHASE_HEAD))
        return md[:start] + section + (md[end:] if end >= 0 else "")
    at = md.find("\n## 5.")
    if at < 0:
        return md.rstrip("\n") + "\n" + section
    return md[:at] + "\n" + section.rstrip("\n") + "\n" + md[at:]


def write_docs(res: Dict[str, Any], out: Path) -> None:
    """Write ``out/benchmarks.md`` (one section per function below, in order) and
    ``out/benchmarks_readme_table.md`` from the results of one :func:`regenerate` run."""
    readme, rt = _readme_section(res)
    sections = [_intro_section(res), _cost_section(res), _growth_section(res), _host_section(res, out),
                _device_section(res, out), _fidelity_section(res), readme]
    (out / "benchmarks.md").write_text("\n".join(sections))
    (out / "benchmarks_readme_table.md").write_text(
        f"<!-- from `{res['command']}`, {res['date']}; details in docs/benchmarks.md -->\n\n" + rt)


def _intro_section(res: Dict[str, Any]) -> str:
    """The title and what the whole document rests on."""
    L: List[str] = []
    a = L.append
    a("# Benchmarks\n")
    a(f"Generated {res['date']} on {res['machine']} by `{res['command']}` in "
      f"{fmt(res['seconds'])} s ({'quick variant: reduced grids, not the published numbers' if res['quick'] else 'full run'}). "
      "Every number below comes from this one run; raw values are in "
      "[`bench/results.json`](bench/results.json). Timings are single-threaded (BLAS pinned to "
      "one thread); MACs are counted, not timed. The losses here are of a synthetic "
      "delayed-recall task; learning quality on the recorded signals, beside the same MAC "
      "counts and online baselines, is in [`quality.md`](quality.md) (`pyrtrl bench --quality`).\n")
    return "\n".join(L)


def _cost_section(res: Dict[str, Any]) -> str:
    """Section 1: MACs, activity, memory and losses over the configuration grid."""
    rows = res["rows"]
    L: List[str] = []
    a = L.append
    a("## 1. Cost surface\n")
    kws = res["bench_kw"]
    a("For each configuration a fresh model (seed 0, 1 input, 2 outputs, delayed-recall task) "
      "is trained online with sparse RTRL (Adam, lr 3e-3) for a brief run, then frozen; dense and "
      "sparse RTRL run the same stream window from the same state. Training and timing per hidden "
      "size (the same for every configuration of one size; n = 128 trains for fewer steps to keep "
      "the run within budget, so its losses compare only with each other):\n")
    a(_table(["n", "train steps", "warm-up steps", "timed steps", "repeats"],
             [[int(k), v["train_steps"], v["warmup"], v["window"], v["repeats"]] for k, v in sorted(kws.items(), key=lambda kv: int(kv[0]))]))
    a("\nColumns: P cell parameters (influence columns); fwd / bwd activity (fraction of units "
      "with an event / with a nonzero dy/dc); MACs per step of dense RTRL on the unpruned model "
      "(`full`, formula `dense_step_macs`), dense RTRL on the pruned model (`dense`, formula, "
      "checked against its counters), sparse RTRL (`sparse`, measured counters over the timed "
      "window), and BPTT (`bptt`: every matrix product and outer product pyrtrl/core/bptt.py "
      "executes, forward and backward, counted over a 20-step sequence and divided by the steps, "
      "readout excluded like in the RTRL counters; `bptt kept`: the same products over kept "
      "weights only, a formula for a mask-aware BPTT that pyrtrl does not implement). "
      "Memory: `infl` dense n x P float64 influence, `live` the sparse engine's live columns "
      "(float64), `C16` the runtime_c learner buffer with 16-bit influence; BPTT's stored "
      "forward values for T = 100, 1000, 10000 steps (linear in T). Losses: mean over the first "
      "and last training steps (initial / final).\n")
    head = ["n", "density", "eps", "masks", "P", "fwd", "bwd", "MACs full", "MACs dense",
            "MACs sparse", "MACs bptt", "MACs bptt kept", "full/sparse", "dense/sparse",
            "infl B", "live B", "C16 B"] + [f"BPTT B T={T}" for T in BPTT_T] + ["loss0", "loss"]
    body = []
    for r in rows:
        body.append([r["hidden"], r["density"], r["eps"], _mask(r), r["params"], r["fwd_activity"],
                     r["bwd_activity"], r["macs_full"], r["macs_dense"], r["macs_sparse"], r["macs_bptt"],
                     r["macs_bptt_pruned"], r["macs_full"] / r["macs_sparse"],
                     r["macs_dense"] / r["macs_sparse"], r["influence_bytes"], r["sparse_live_bytes"],
                     r["c_ram_bytes16"]] + [r["bptt_bytes_per_step"] * T for T in BPTT_T]
                    + [r["initial_loss"], r["final_loss"]])
    a(_table(head, body))
    a("\n![cost surface](bench/cost_surface.png)\n")
    a("![memory](bench/memory.png)\n")
    return "\n".join(L)


def _growth_section(res: Dict[str, Any]) -> str:
    """Section 2: MACs per step against hidden size, with fitted exponents."""
    gr = res["growth"]
    L: List[str] = []
    a = L.append
    a("## 2. Growth\n")
    a(f"MACs per step against hidden size at density {gr['density']}, eps {gr['eps']}, shared "
      "masks (rows of section 1), with exponents fitted by least squares on log-log, over the "
      f"sizes n = {gr['hidden'][0]}-{gr['hidden'][-1]} listed, on models trained on the synthetic delayed-recall "
      "task. The same fit on models learning the recorded PPG signal (the learning-quality "
      "frontier, every density and eps) is in [quality.md](quality.md#growth-in-n-on-a-real-signal):\n")
    a(_table(["n"] + ["MACs " + k for k in ("full", "dense", "sparse", "bptt", "bptt kept")],
             [[nn] + [gr["macs_" + k][i] for k in ("full", "dense", "sparse", "bptt", "bptt_pruned")]
              for i, nn in enumerate(gr["hidden"])]))
    a("")
    sel = {r["hidden"]: r for r in res["host_speed"]["rows"]}
    ns = gr["hidden"]
    a("\nActivity and loss of the same rows, and the local slopes between neighbouring sizes "
      "(the fit depends on them: activity is a property of each trained model, and n = 128 "
      "trained for fewer steps):\n")
    a(_table(["n", "fwd", "bwd", "live columns", "loss0", "loss", "slope dense to next n",
              "slope sparse to next n"],
             [[nn, sel[nn]["fwd_activity"], sel[nn]["bwd_activity"], sel[nn]["live_columns"],
               sel[nn]["initial_loss"], sel[nn]["final_loss"]]
              + ([f"{fit_exponent(ns[i:i + 2], gr['macs_dense'][i:i + 2]):.2f}",
                  f"{fit_exponent(ns[i:i + 2], gr['macs_sparse'][i:i + 2]):.2f}"]
                 if i + 1 < len(ns) else ["", ""]) for i, nn in enumerate(ns)]))
    a("")
    a(_table(["method", "fitted exponent"],
             [[k, f"{gr['exp_' + k]:.2f}"] for k in ("full", "dense", "sparse", "bptt", "bptt_pruned")]))
    a(f"\nDense minus sparse exponent: {gr['gap']:.2f} (criterion: at least {MIN_EXPONENT_GAP:g}; "
      f"{'met' if gr['criterion_met'] else 'NOT MET'}). "
      + ("Per step, sparse RTRL still grows faster than BPTT as implemented "
         if gr["exp_sparse"] > gr["exp_bptt"] else "Per step, sparse RTRL grows no faster than BPTT ")
      + f"({gr['exp_sparse']:.2f} vs {gr['exp_bptt']:.2f}); BPTT's memory, unlike RTRL's, grows "
      "with the sequence length (section 1).\n")
    a("![growth](bench/growth.png)\n")
    return "\n".join(L)


def _host_section(res: Dict[str, Any], out: Path) -> str:
    """Section 3: microseconds per step on the host, numpy against the C library, and the vector kernel against the portable loops."""
    L: List[str] = []
    a = L.append
    a("## 3. Host speed\n")
    hs = res["host_speed"]
    kernels = sorted({r.get("c_kernel", "not recorded") for r in hs["rows"]})
    a("Microseconds per step, single-threaded, same run, density 0.2, eps 0.2, shared masks: "
      "numpy dense and sparse RTRL (float64, per-step Python loop) and the C runtime through "
      "cffi (fixed point, whole window in one call, built with -march=native, which picks the "
      "vector kernel: AVX-512, AVX2, NEON or portable; this run's: "
      f"**{', '.join(kernels)}**; `C dense` is the same library with sparsity "
      "exploitation off). Timing windows as in section 1 (the fastest of the repeats; "
      "numpy and C time the same window).\n")
    a(_table(["n", "numpy dense", "numpy sparse", "C dense", "C sparse", "numpy dense / C sparse",
              "numpy sparse / C sparse"],
             [[r["hidden"], r["us_dense"], r["us_sparse"], r["us_c_dense"], r["us_c_sparse"],
               r["us_dense"] / r["us_c_sparse"], r["us_sparse"] / r["us_c_sparse"]] for r in hs["rows"]]))
    a("\n![host speed](bench/host_speed.png)\n")
    a(kernel_speed_md(out / "bench" / "kernel_speed.json"))
    return "\n".join(L)


def _device_section(res: Dict[str, Any], out: Path) -> str:
    """Section 4: every board under QEMU (the fixed model, the largest model, instructions by phase)."""
    L: List[str] = []
    a = L.append
    a("## 4. Device\n")
    dv = res["device"]
    fm = dv["fixed_model"]
    a(f"The same model on every board: n = {fm['hidden']}, density {fm['density']}, eps {fm['eps']}, "
      f"shared masks, seed {fm['seed']}, 16-bit influence, 1 input and 1 output (it fits the 16 KiB "
      f"boards), learning the recorded PPG signal for {dv['steps']} steps under QEMU (the readout reads the events y, no taps, learned by gradient; SGD lr {DEVICE_LEARNING['lr']}). "
      "Instructions per learning step are exact (QEMU TCG plugin between the learner's markers, "
      "mean over the steps). Flash is the `.text` of the built learner ELF (arm-none-eabi-size / "
      "riscv64-unknown-elf-size); RAM is the learner buffer the firmware reports and the total RAM "
      "it uses. The sample rate is an **estimate**: nominal clock / instructions per step, assuming "
      "one instruction per cycle and no wait states (QEMU does not model cycles).\n")
    brow = []
    for b in dv["boards"]:
        if "fixed" not in b:
            brow.append([b["board"], b["cpu"], fmt(b["clock_hz"] / 1e6)] + ["skipped: " + b.get("skipped", "")] + [""] * 6)
            continue
        f = b["fixed"]
        brow.append([b["board"], b["cpu"], b["clock_hz"] / 1e6, f["instructions_per_step"],
                     f["instructions_min"], f["instructions_max"], f["learner_ram_bytes"], f["ram_used_bytes"],
                     f["size"]["text"], f["rate_hz_est"]])
    a(_table(["board", "core", "MHz", "instr/step", "min", "max", "learner RAM B", "RAM used B",
              "flash .text B", "est. max rate Hz"], brow))
    retried = [f"{b['board']} ({k}): {len(b[k]['failed_attempts'])}" for b in dv["boards"]
               for k in ("fixed", "largest") if k in b and b[k].get("failed_attempts")]
    if retried:
        a("\nRuns repeated after a host-link failure (the measured numbers are from the run that "
          "completed): " + "; ".join(retried) + ".\n")
    on_dev = res["plan_largest_on_device"]
    a("\nLargest model per board: `largest_hidden(board, 1, 1, 0.2, shared, 16-bit)`, a fresh "
      "model of that size (eps 0.2, seed 0). `C MACs/step` are the C learner's counters on the host "
      "over 200 PPG steps (MACs, not instructions). "
      + (f"`instr/step` is measured by running it on the board for {dv['largest_steps']} steps "
         "(short: activity, hence cost, is still settling)." if on_dev else
         "Not run on the device in this variant.") + "\n")
    lrows = []
    for b in dv["boards"]:
        if "largest" not in b:
            continue
        lg = b["largest"]
        lrows.append([b["board"], lg["hidden"], lg["params"], lg["budget_ram"], lg["host_c_macs_per_step"],
                      lg.get("instructions_per_step", "not run"),
                      lg["size"]["text"] if "size" in lg else "not run",
                      lg.get("rate_hz_est", "not run")])
    a(_table(["board", "largest n", "P", "learner RAM B (budget)", "C MACs/step (host)",
              "instr/step", "flash .text B", "est. max rate Hz"], lrows))
    a("\n![device](bench/device.png)\n")
    a(phase_profile_md(out / "bench" / "phase_profile.json"))
    return "\n".join(L)


def _fidelity_section(res: Dict[str, Any]) -> str:
    """Section 5: fixed point against float (gradient cosine, event flips, final loss)."""
    L: List[str] = []
    a = L.append
    a("## 5. Fidelity\n")
    fid = res["fidelity"]
    f0 = fid[0]
    a(f"Fixed point (runtime_c and its numpy specification) against float, shared masks, seed 0, "
      f"delayed recall. Gradient cosine: the pending gradient of the fixed-point learner "
      f"(`FixedLearner.gradient()`, no update) against the float gradient over {f0['cosine_steps']} "
      f"steps; `flips` counts events that differ from the float forward pass. Final loss: mean over "
      f"the last {max(1, f0['steps'] // 10)} of {f0['steps']} online steps, float `OnlineLearner` "
      f"(SGD, clip_mode=\"value\", clip {f0['clip']}) against the C learner with the same lr "
      f"{f0['lr']} and clip, same stream.\n")
    a(_table(["n", "density", "eps", "1 - cos 32-bit", "1 - cos 16-bit", "flips 32", "flips 16", "loss0 float",
              "loss float", "loss C 32-bit", "loss C 16-bit", "saturations 16"],
             [[r["hidden"], r["density"], r["eps"], f"{1 - r['cos32']:.2e}", f"{1 - r['cos16']:.2e}", r["flips32"],
               r["flips16"], r["loss0_float"], r["loss_float"], r["loss32"], r["loss16"], r["sat16"]]
              for r in fid]))
    a("\n![fidelity](bench/fidelity.png)\n")
    return "\n".join(L)


def _readme_section(res: Dict[str, Any]) -> Tuple[str, str]:
    """The README's summary table, and the table itself (pasted into the README)."""
    L: List[str] = []
    a = L.append
    a("## README table\n")
    a("The table in [`benchmarks_readme_table.md`](benchmarks_readme_table.md) (pasted into the README):\n")
    rt = _table(["", "value"], readme_table(res))
    a(rt)
    return "\n".join(L), rt


# -- driver ---------------------------------------------------------------------------------
def regenerate(out: str = "docs", quick: bool = False, work: Optional[str] = None,
               progress: bool = True, command: Optional[str] = None) -> Dict[str, Any]:
    """Run every measurement, write the document, figures, README table and results.json."""
    t0 = time.perf_counter()
    plan = QUICK_PLAN if quick else FULL_PLAN
    outp = Path(out)
    figdir = outp / "bench"
    figdir.mkdir(parents=True, exist_ok=True)
    res: Dict[str, Any] = {
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": _machine(),
        "command": command or ("pyrtrl bench --all" + (" --quick" if quick else "") + f" --out {out}"),
        "quick": quick, "bench_kw": {str(k): v for k, v in plan["bench_kw"].items()},
        "plan_largest_on_device": plan["largest_on_device"],
    }
    timings = {}
    t = time.perf_counter()
    tmp = None
    if work is None:
        tmp = tempfile.mkdtemp(prefix="pyrtrl-bench-")
        work = tmp
    try:
        res["device"] = device(plan, Path(work).resolve(), progress)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    timings["device"] = time.perf_counter() - t
    t = time.perf_counter()
    res["fidelity"] = fidelity(plan, progress)
    timings["fidelity"] = time.perf_counter() - t
    # the cost surface last: the longest part, after the parts that need external tools
    t = time.perf_counter()
    res["rows"] = cost_surface(plan, progress)
    timings["cost_surface"] = time.perf_counter() - t
    res["growth"] = growth(res["rows"])
    dn, ep, sh = GROWTH_CFG
    hs = sorted((r for r in res["rows"] if (r["density"], r["eps"], r["shared_mask"]) == (dn, ep, sh)),
                key=lambda r: r["hidden"])
    res["host_speed"] = {"rows": hs, **{k: [r[k] for r in hs] for k in
                                        ("hidden", "us_dense", "us_sparse", "us_c_dense", "us_c_sparse")}}
    m = next((r for r in hs if r["hidden"] == 64), hs[-1])
    res["memory"] = {k: m[k] for k in ("hidden", "density", "bptt_bytes_per_step", "influence_bytes",
                                       "sparse_live_bytes", "c_ram_bytes16")}
    res["timings"] = timings
    res["seconds"] = time.perf_counter() - t0  # measurements; figures and text are seconds more
    figures(res, figdir)
    write_docs(res, outp)
    with open(figdir / "results.json", "w") as f:
        json.dump(res, f, indent=1, default=float)
    return res


# -- checks ---------------------------------------------------------------------------------
_NUM = re.compile(r"^-?\d+(\.\d+)?(e[+-]\d+)?$")


def parse_tables(md: str) -> List[List[List[str]]]:
    """Every Markdown table of ``md`` as rows of cells (header first, separator dropped).

    Raises ValueError when a row's cell count differs from its header's."""
    tables: List[List[List[str]]] = []
    cur: Optional[List[List[str]]] = None
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cur is None:
                cur = [cells]
            elif all(set(c) <= set("-: ") and c for c in cells):
                continue
            else:
                if len(cells) != len(cur[0]):
                    raise ValueError(f"table row has {len(cells)} cells, header {len(cur[0])}: {line}")
                cur.append(cells)
        elif cur is not None:
            tables.append(cur)
            cur = None
    if cur is not None:
        tables.append(cur)
    return tables


def check_outputs(out: str, require_device: bool = True) -> List[str]:
    """Problems with a regenerated ``out`` (empty list: all good)."""
    import matplotlib.image as mpimg

    outp = Path(out)
    problems: List[str] = []
    md_path, rt_path = outp / "benchmarks.md", outp / "benchmarks_readme_table.md"
    res_path, man_path = outp / "bench" / "results.json", outp / "bench" / "figures.json"
    for p in (md_path, rt_path, res_path, man_path):
        if not p.is_file():
            problems.append(f"missing {p}")
    if problems:
        return problems
    md = md_path.read_text()
    res = json.loads(res_path.read_text())
    try:
        tables = parse_tables(md)
    except ValueError as e:
        return [str(e)]
    if len(tables) < 8:
        problems.append(f"expected at least 8 tables, found {len(tables)}")
    cost = next((t for t in tables if t[0][:2] == ["n", "density"]), None)
    if cost is None or len(cost) - 1 != len(res["rows"]):
        problems.append("cost surface table missing or with the wrong number of rows")
    else:
        for row in cost[1:]:
            for c in row[:3] + row[4:]:
                if not _NUM.match(c):
                    problems.append(f"cost surface cell {c!r} is not a number")
    man = json.loads(man_path.read_text())
    for name in ("growth.png", "cost_surface.png", "memory.png", "host_speed.png", "device.png", "fidelity.png"):
        p = outp / "bench" / name
        if not p.is_file():
            problems.append(f"missing figure {p}")
            continue
        img = mpimg.imread(p)
        if img.shape[0] < 200 or img.shape[1] < 200:
            problems.append(f"figure {name} is only {img.shape[:2]}")
        if f"bench/{name}" not in md:
            problems.append(f"figure {name} not linked from benchmarks.md")
        for ax in man.get(name, [None]):
            if not ax or not all(ax[k] for k in ("title", "xlabel", "ylabel")):
                problems.append(f"figure {name} lacks a title or an axis label: {ax}")
    gr = res["growth"]
    n = gr["hidden"]
    if len(n) < 3:
        problems.append(f"growth fit over {len(n)} sizes only")
    ed, es = fit_exponent(n, gr["macs_dense"]), fit_exponent(n, gr["macs_sparse"])
    if not ed - es >= MIN_EXPONENT_GAP:
        problems.append(f"growth criterion not met: dense exponent {ed:.2f}, sparse {es:.2f}")
    if f"{ed:.2f}" not in md or f"{es:.2f}" not in md:
        problems.append("fitted exponents not printed in benchmarks.md")
    rt = parse_tables(rt_path.read_text())
    if len(rt) != 1 or not 5 <= len(rt[0]) - 1 <= 8:
        problems.append("README table must be one table of 5 to 8 rows")
    else:
        body = md.split("## README table")[0]
        for row in rt[0][1:]:
            for num in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?", row[1]):
                if num not in body:
                    problems.append(f"README number {num} not in benchmarks.md sections 1-5")
    if require_device and not any("fixed" in b for b in res["device"]["boards"]):
        problems.append("no device measured")
    for b in res["device"]["boards"]:
        if "fixed" in b and not b["fixed"]["weights_match_host"]:
            problems.append(f"{b['board']}: device weights differ from the host C learner")
    if res["command"] not in md or res["date"] not in md:
        problems.append("benchmarks.md does not state its command and date")
    return problems
