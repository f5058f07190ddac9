"""The ``pyrtrl`` command line.

Errors in what the user gave (arguments, files, data) print one line and exit 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, List, Optional

from . import run_defaults as D
from .errors import PyrtrlError


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _number(text: str, low: float, high: float, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    if not (low < v <= high and v != float("inf")):  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected {what}, got {v}")
    return v


def _density(text: str) -> float:
    return _number(text, 0.0, 1.0, "a density in (0, 1]")


def _positive_float(text: str) -> float:
    return _number(text, 0.0, float("inf"), "a positive finite number")


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, allow_nan=True))


# -- gradcheck ---------------------------------------------------------------------------
def cmd_gradcheck(args: argparse.Namespace) -> int:
    from .core.gradcheck import TOL_FD, TOL_RTRL, GradcheckConfig, run_gradcheck

    if args.steps < 2:
        raise PyrtrlError("--steps must be at least 2")
    res = run_gradcheck(GradcheckConfig(
        hidden=args.hidden, inputs=args.inputs, outputs=args.outputs, steps=args.steps,
        density=args.density, eps=args.eps, shared_mask=args.shared_mask, seed=args.seed))
    if args.json:
        _print_json(res)
    else:
        mark = lambda e, tol: "ok" if e <= tol else "FAIL"  # noqa: E731
        print(f"model: hidden={res['hidden']} inputs={res['inputs']} steps={res['steps']} "
              f"density={res['density']} eps={res['eps']} shared_mask={res['shared_mask']}")
        for key, tol in (("rel_err_dense_vs_bptt", TOL_RTRL), ("rel_err_sparse_vs_bptt", TOL_RTRL),
                         ("rel_err_bptt_vs_fd", TOL_FD), ("rel_err_bptt_vs_fd_heaviside", TOL_FD)):
            print(f"  {key:30s} {res[key]:.3e}  (<= {tol:g}) {mark(res[key], tol)}")
        print(f"  MACs/step dense {res['macs_dense_per_step']:.0f}, sparse {res['macs_sparse_per_step']:.0f}"
              f" (x{res['mac_ratio_dense_over_sparse']:.2f}); activity fwd {res['fwd_activity']:.2f},"
              f" bwd {res['bwd_activity']:.2f}")
        print("PASSED" if res["passed"] else "FAILED")
    return 0 if res["passed"] else 1


# -- bench -------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from .benchmarks.bench import grid, run_bench

    if args.all:
        return _bench_all(args)
    if args.quality:
        return _bench_quality(args)
    if args.work or args.check or args.no_quality:
        raise PyrtrlError("--work, --check and --no-quality go with --all")
    configs = grid(args.hidden, args.density, args.eps, args.masks)
    rows = run_bench(configs, quick=args.quick, progress=not args.json and sys.stderr.isatty())
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    if args.json:
        _print_json(rows)
        return 0
    head = (f"{'n':>3} {'dens':>5} {'eps':>4} {'mask':>6} {'P':>6} {'fwd':>5} {'bwd':>5} "
            f"{'full/sp':>8} {'dense/sp':>8} {'us dense':>9} {'us sparse':>9} {'t ratio':>7} "
            f"{'us C dns':>9} {'us C sp':>9} {'loss0':>6} {'loss':>6}")
    kernels = sorted({r["c_kernel"] for r in rows})
    print(f"C runtime kernel: {', '.join(kernels) or 'none'} (us C: runtime_c through cffi)")
    print(head)
    for r in rows:
        print(f"{r['hidden']:>3} {r['density']:>5.2f} {r['eps']:>4.1f} "
              f"{'shared' if r['shared_mask'] else 'indep':>6} {r['params']:>6} "
              f"{r['fwd_activity']:>5.2f} {r['bwd_activity']:>5.2f} "
              f"{r['macs_full'] / r['macs_sparse']:>8.1f} {r['macs_dense'] / r['macs_sparse']:>8.1f} "
              f"{r['us_dense']:>9.0f} {r['us_sparse']:>9.0f} {r['us_dense'] / r['us_sparse']:>7.2f} "
              f"{r['us_c_dense']:>9.0f} {r['us_c_sparse']:>9.0f} "
              f"{r['initial_loss']:>6.3f} {r['final_loss']:>6.3f}")
    return 0


def _bench_quality(args: argparse.Namespace) -> int:
    """``pyrtrl bench --quality``: docs/quality.md, learning quality beside cost."""
    import time

    from .benchmarks.quality import regenerate

    if args.hidden or args.density or args.eps or args.masks:
        raise PyrtrlError("--quality measures its own grid: drop --hidden/--density/--eps/--masks")
    out = args.out or "docs"
    t0 = time.perf_counter()
    files = regenerate(out, quick=args.quick, progress=not args.json and sys.stderr.isatty())
    summary = {"out": out, "files": files, "seconds": time.perf_counter() - t0}
    if args.json:
        _print_json(summary)
    else:
        print(f"wrote {', '.join(files)} in {summary['seconds']:.0f} s")
    return 0


def _bench_all(args: argparse.Namespace) -> int:
    """``pyrtrl bench --all``: regenerate docs/benchmarks.md, its figures and the README table."""
    import time

    from .benchmarks.document import check_outputs, regenerate

    if args.hidden or args.density or args.eps or args.masks:
        raise PyrtrlError("--all measures its own grids: drop --hidden/--density/--eps/--masks")
    out = args.out or "docs"
    cmd = "pyrtrl bench --all" + (" --quick" if args.quick else "") + f" --out {out}"
    t0 = time.perf_counter()
    res = regenerate(out, quick=args.quick, work=args.work, progress=not args.json, command=cmd)
    problems = check_outputs(out) if args.check else []
    quality_files: List[str] = []
    if not args.no_quality:  # every figure of cost is read next to one of quality
        from .benchmarks.quality import regenerate as regenerate_quality

        t1 = time.perf_counter()
        quality_files = regenerate_quality(out, quick=args.quick, progress=not args.json and sys.stderr.isatty())
        res["timings"]["quality"] = time.perf_counter() - t1
    summary = {"out": out, "seconds": time.perf_counter() - t0, "timings": res["timings"],
               "exponents": {k: res["growth"][k] for k in res["growth"] if k.startswith("exp_")},
               "growth_criterion_met": res["growth"]["criterion_met"], "problems": problems,
               "quality_files": quality_files}
    if args.json:
        _print_json(summary)
    else:
        print(f"wrote {out}/benchmarks.md, {out}/benchmarks_readme_table.md, {out}/bench/"
              f"{', ' + ', '.join(quality_files) if quality_files else ''} in {summary['seconds']:.0f} s")
        print("fitted exponents: " + ", ".join(f"{k[4:]} {v:.2f}" for k, v in summary["exponents"].items()))
        for p in problems:
            print(f"CHECK FAILED: {p}")
    return 1 if problems else 0


# -- run ---------------------------------------------------------------------------------
def _data_stream(args: argparse.Namespace) -> "Optional[object]":
    """The stream of ``--data FILE`` (:func:`pyrtrl.data.files.load_stream`), or None for a
    built-in ``--signal``; prints the loud clamping warning. ``--data NAME`` of a built-in
    signal (no such file) is the older spelling of ``--signal NAME``."""
    import os

    from .data.signals import SIGNALS

    if args.data is not None and args.data in SIGNALS and not os.path.exists(args.data):
        args.signal, args.data = args.data, None
    if args.data is None:
        given = [o for o, v in (("--inputs", args.inputs), ("--targets", args.targets)) if v is not None]
        if given:
            raise PyrtrlError(f"{' and '.join(given)} choose columns of --data FILE")
        args.signal = args.signal or "ppg"
        return None
    from .data.files import load_stream

    stream = load_stream(args.data, args.inputs, args.targets, args.horizon, args.steps)
    warning = stream.clamp_warning()
    if warning:
        print(f"pyrtrl run: WARNING: {warning}", file=sys.stderr)
    return stream


def _default_lr(args: argparse.Namespace) -> float:
    """--lr, else the run default of the chosen optimizer (LR for SGD, ADAM_LR for Adam)."""
    if args.lr is not None:
        return args.lr
    return D.ADAM_LR if args.optimizer == "adam" else D.LR


def cmd_run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 2:
        raise PyrtrlError(f"--steps must be at least 2 (a forecasting step needs the next sample), "
                          f"got {args.steps}")
    if args.port and args.board == "host":
        raise PyrtrlError("--port talks to a real board's serial port: give --board with the "
                          "board's name, not host (the host C library needs no port)")
    from .data.files import is_labelled

    if args.data is not None and (is_labelled(args.data) or _bundled_set(args.data)):
        # X, y (or a bundled labelled set): classification (pyrtrl.runs.classify)
        from .runs.classify import cli_run

        return cli_run(args, _print_json)
    if args.epochs is not None or args.test_every is not None:
        raise PyrtrlError(f"{'--epochs' if args.epochs is not None else '--test-every'} is for labelled "
                          "sequences (--data FILE.npz with arrays X and y, or a bundled set)")
    args.readout_rule = args.readout_rule or D.READOUT_RULE
    stream = _data_stream(args)
    args.stream = stream
    if args.board != "float" or args.port:
        return cmd_run_device(args)
    if args.checkpoint_every is not None or args.resume is not None:
        raise PyrtrlError("--checkpoint-every and --resume are for device runs (--board B or --port)")
    from .runs.host import run_host

    summary = run_host(
        data=args.signal, steps=args.steps, hidden=args.hidden or D.HIDDEN,
        density=args.density or D.DENSITY, eps=args.eps or D.EPS,
        shared_mask=not args.independent_masks, lr=_default_lr(args),
        method=args.method, model_path=args.model, out_dir=args.out, seed=args.seed,
        progress=not args.json and sys.stderr.isatty(), horizon=args.horizon,
        readout=args.readout, taps=args.taps, readout_rule=args.readout_rule, train=args.train,
        optimizer=args.optimizer, stream=stream)
    if args.json:
        _print_json(summary)
    else:
        print(f"run directory: {args.out}")
        for key in ("data", "horizon", "steps", "hidden", "mse_learner_last", "mse_naive_last",
                    "ratio_learner_over_naive_last", "fwd_activity", "macs_per_step", "wall_seconds"):
            if key in summary:
                print(f"  {key:32s} {summary[key]}")
        _print_outcome(summary, summary.get("mse_learner_last"))
    return 0


def _bundled_set(name: str) -> bool:
    """True if ``name`` is no file but a bundled labelled data set (pyrtrl.data.datasets)."""
    import os

    from .data.datasets import is_dataset_name

    return not os.path.exists(name) and is_dataset_name(name)


def cmd_dataset(args: argparse.Namespace) -> int:
    from .data import datasets

    if args.name is None:
        rows = datasets.available()
        if args.json:
            _print_json([{"name": n, "description": t, "package": p} for n, t, p in rows])
            return 0
        for n, text, pkg in rows:
            print(f"{n:18s} {text}")
            print(f"{'':18s} " + (f"from the installed {pkg}" if pkg else
                                  "not available: pip install 'pyrtrl[ucr]' (sktime ships it)"))
        return 0
    if args.out is None:
        raise PyrtrlError("give -o FILE.npz: where to write the labelled sequences")
    info = datasets.export_labelled(args.name, args.out)
    if args.json:
        _print_json(info)
    else:
        print(f"wrote {info['file']}: {info['train_sequences']} training and {info['test_sequences']} test "
              f"sequences of {info['steps']} steps x {info['channels']} channel(s), {info['classes']} classes "
              f"({', '.join(info['class_names'])}), normalised per channel from the training set")
        print(f"  {info['source']}")
        print(f"  learn it: pyrtrl run --data {info['file']} --board mps2-an386")
    return 0


def _print_outcome(summary: dict, learner_mse: "float | None") -> None:
    """The one line a user needs: the learner's error beside every baseline's; then any
    divergence or saturation, loudly. A ``--data`` run first says its columns."""
    f = summary.get("data_file")
    if f:
        print(f"  {f['mode']} of {', '.join(f['targets'])} from {', '.join(f['inputs'])} "
              f"({f['file']}, normalised per column: {f['normalization']['from']})")
    for m in (summary.get("health") or {}).get("messages", []):
        print(f"  {summary['health']['status'].upper()}: {m}")
    b = summary.get("baselines")
    if not b or learner_mse is None:
        return
    naive = b["naive"]["mse_last"]
    parts = [f"learner {learner_mse / naive:.3f}"]
    for name in ("nlms", "rls"):
        if name in b:
            parts.append(f"{name} {b[name]['ratio_to_naive_last']:.3f}")
    print("  error over the last 20 % as a fraction of naive's: " + ", ".join(parts))


# -- budget ------------------------------------------------------------------------------
def cmd_budget(args: argparse.Namespace) -> int:
    from .boards import get_board
    from .deploy.budget import RAM_COMPONENTS, budget, budget_for_model, component_help, largest_hidden

    board = get_board(args.board) if args.board else None
    spec = {"--hidden": args.hidden, "--inputs": args.inputs, "--outputs": args.outputs,
            "--density": args.density}
    if args.model:
        given = [k for k, v in spec.items() if v is not None]
        given += ["--shared-mask"] if args.shared_mask else []
        if given:
            raise PyrtrlError(f"--model gives the sizes and masks; drop {', '.join(given)}")
        from .core.model_file import load_model

        model = load_model(args.model)
        given = [f for f, v in (("--taps", args.taps), ("--readout", args.readout)) if v is not None]
        if given:
            raise PyrtrlError(f"--model gives the readout and its taps; drop {', '.join(given)}")
        b = budget_for_model(model, args.influence_bits, readout_rule=args.readout_rule,
                             horizon=args.horizon, optimizer=args.optimizer)
        density, shared = model.density(), model.shared_mask
    else:
        missing = [k for k, v in spec.items() if v is None]
        if missing:
            raise PyrtrlError(f"missing {', '.join(missing)} (or give --model)")
        density, shared = args.density, args.shared_mask
        b = budget(args.hidden, args.inputs, args.outputs, density, shared, args.influence_bits,
                   seed=args.seed, taps=args.taps or 0, readout=args.readout or "y",
                   readout_rule=args.readout_rule, horizon=args.horizon, optimizer=args.optimizer)
    res = b.to_dict()
    res.update(density=density, shared_mask=shared)
    if board is not None:
        res.update(board=board.name, board_ram=board.ram_bytes, reserve=board.reserved_ram,
                   fits=b.fits(board), board_flash=board.flash_bytes, flash_fits=b.flash_fits(board),
                   largest_hidden=largest_hidden(board, b.inputs, b.outputs, density, shared,
                                                 args.influence_bits, seed=args.seed, taps=b.taps,
                                                 readout=b.readout, readout_rule=b.readout_rule,
                                                 horizon=b.horizon, optimizer=b.optimizer))
    if args.json:
        _print_json(res)
        return 0
    print(f"model: hidden={b.hidden} inputs={b.inputs} outputs={b.outputs} density={density:g} "
          f"{'shared' if shared else 'independent'} masks, {b.influence_bits}-bit influence, "
          f"P={b.params} cell parameters, {b.nnz_union} recurrent union entries")
    print(f"learning: readout by {'RLS' if b.readout_rule == 'rls' else 'gradient'}, "
          f"{'Adam' if b.optimizer == 'adam' else 'SGD'} for what learns by gradient, horizon {b.horizon}")
    print("RAM, learner buffer (RTRL_REQUIRED_BYTES_OPT):")
    for name in RAM_COMPONENTS:
        print(f"  {name:14s} {b.components[name]:>10,} B  {component_help(name)}")
    print(f"  {'total':14s} {b.total_ram:>10,} B  ({b.total_ram / 1024:.1f} KiB)")
    print("flash, model constants (library code not counted):")
    for name, v in b.flash_components.items():
        print(f"  {name:18s} {v:>10,} B")
    print(f"  {'total':18s} {b.flash:>10,} B  ({b.flash / 1024:.1f} KiB)")
    if board is not None:
        need = b.total_ram + board.reserved_ram
        print(f"board: {board.describe()}")
        print(f"  RAM: buffer {b.total_ram:,} + reserve {board.reserved_ram:,} = {need:,} of "
              f"{board.ram_bytes:,} B: " + (f"fits ({board.ram_bytes - need:,} B spare)" if res["fits"]
                                           else f"does NOT fit ({need - board.ram_bytes:,} B over)"))
        print(f"  flash: model constants {b.flash:,} of {board.flash_bytes:,} B"
              + ("" if res["flash_fits"] else ": does NOT fit"))
        lh = res["largest_hidden"]
        print(f"  largest hidden that fits with these settings: {lh if lh else 'none'}")
    return 0


def cmd_run_device(args: argparse.Namespace) -> int:
    from .runs.device import DEFAULT_BOARD, run_on_device

    board = args.board if args.board != "float" else DEFAULT_BOARD  # --port with float
    model_path = args.model
    if model_path is None and (args.hidden or args.density or args.eps or args.independent_masks
                               or args.readout != D.READOUT or args.taps != D.TAPS):
        # a fresh model with the sizes asked for, saved where the run directory will be
        import os

        from .core.model import init_egru
        from .core.model_file import save_model

        from .deploy.budget import check_runtime_sizes

        if args.hidden is None:
            raise PyrtrlError("give --hidden too when choosing --density, --eps, --readout, --taps "
                              "or masks for a device run")
        d, k = (1, 1) if args.stream is None else (args.stream.d, args.stream.k)
        check_runtime_sizes(args.hidden, d, k, args.taps)  # before anything is written
        os.makedirs(args.out, exist_ok=True)
        model_path = os.path.join(args.out, "model_requested.npz")
        save_model(model_path, init_egru(args.hidden, d, k, density=args.density or D.DENSITY,
                                         shared_mask=not args.independent_masks,
                                         eps=args.eps or D.EPS, seed=args.seed,
                                         readout=args.readout, taps=args.taps))
    summary = run_on_device(board=board, model_path=model_path, data=args.signal, steps=args.steps,
                            out_dir=args.out, lr=_default_lr(args),
                            influence_bits=args.influence_bits, port=args.port, seed=args.seed,
                            progress=not args.json and sys.stderr.isatty(),
                            checkpoint_every=args.checkpoint_every, resume_from=args.resume,
                            readout_rule=args.readout_rule, train=args.train, horizon=args.horizon,
                            optimizer=args.optimizer, stream=args.stream)
    if args.json:
        _print_json(summary)
    else:
        print(f"run directory: {args.out}")
        for key in ("board", "horizon", "steps", "hidden", "instructions_per_step",
                    "learner_ram_bytes", "saturations", "frames_bad", "weights_match_host",
                    "qemu_exit_status"):
            print(f"  {key:24s} {summary.get(key)}")
        _print_outcome(summary, summary.get("mse_device_last"))
    return 0 if summary["weights_match_host"] and summary["frames_bad"] == 0 else 1


# -- report ------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    """``pyrtrl report RUN_DIR [--json]``: one writer for every kind of run
    (:func:`pyrtrl.reporting.report.write_report`); prints ``report.md``'s path, or with
    ``--json`` ``report.json`` (its first fields the same for every kind)."""
    from .reporting.report import write_report

    files = write_report(args.run_dir)
    if args.json:
        with open(files.json) as f:
            _print_json(json.load(f))
    else:
        print(files.report)
    return 0


# -- monitor -----------------------------------------------------------------------------
def cmd_monitor(args: argparse.Namespace) -> int:
    from .reporting.monitor import monitor

    monitor(args.source, png=args.png, every=args.every, once=args.once, last=args.last)
    return 0


# -- export ------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from .deploy.export import export_model
    from .core.model_file import load_model

    model = load_model(args.model)
    paths = export_model(model, args.board, args.out, lr=args.lr, clip=args.clip,
                         update_every=args.update_every, influence_bits=args.influence_bits,
                         readout_rule=args.readout_rule, train=args.train, horizon=args.horizon,
                         optimizer=args.optimizer)
    if args.json:
        _print_json({"board": args.board, "files": paths})
    else:
        for p in paths.values():
            print(p)
    return 0


# -- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (exposed for tests and docs)."""
    top = _Parser(prog="pyrtrl", description=(
        "Exact online learning (sparse RTRL) for event-based GRUs on microcontrollers."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    top.add_argument("--version", action="version", version=f"pyrtrl {_version()}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, helptext: str, example: str, fn: Callable) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=helptext, description=helptext,
                           epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(fn=fn)
        return p

    for add in (_add_gradcheck, _add_bench, _add_run, _add_budget, _add_dataset, _add_report,
                _add_monitor, _add_export):
        add(command)
    from .runs.flash import add_parser as add_flash_parser  # pyrtrl flash (issue 13 item 5)
    add_flash_parser(command)
    return top


def _add_gradcheck(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl gradcheck``: its options and help."""
    p = command("gradcheck", "check sparse RTRL = dense RTRL = BPTT = finite differences",
                "pyrtrl gradcheck --hidden 16 --density 0.3 --eps 0.2 --shared-mask --json",
                cmd_gradcheck)
    p.add_argument("--hidden", type=_positive_int, default=16, help="hidden units (default 16)")
    p.add_argument("--inputs", type=_positive_int, default=3, help="input dimension (default 3)")
    p.add_argument("--outputs", type=_positive_int, default=3, help="readout size (default 3)")
    p.add_argument("--steps", type=_positive_int, default=60, help="sequence length (default 60)")
    p.add_argument("--density", type=_density, default=0.5, help="kept weight fraction (default 0.5)")
    p.add_argument("--eps", type=_positive_float, default=0.5, help="pseudo-derivative half-width (default 0.5)")
    p.add_argument("--shared-mask", action="store_true", help="one mask shared by the three gates")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print a JSON object")


def _add_bench(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl bench``: its options and help."""
    from .benchmarks.bench import DENSITY, EPS, HIDDEN

    p = command("bench", "measure sparse vs dense RTRL cost over a grid of models",
                "pyrtrl bench --quick --hidden 64 --density 0.2 --eps 0.2 --masks shared --json",
                cmd_bench)
    p.add_argument("--quick", action="store_true", help="shorter training and timing windows")
    p.add_argument("--hidden", type=_positive_int, nargs="+", help=f"hidden sizes (default {list(HIDDEN)})")
    p.add_argument("--density", type=_density, nargs="+", help=f"densities (default {list(DENSITY)})")
    p.add_argument("--eps", type=_positive_float, nargs="+", help=f"eps values (default {list(EPS)})")
    p.add_argument("--masks", choices=("shared", "independent"), nargs="+",
                   help="mask kinds (default both)")
    p.add_argument("--out", help="also write the JSON list to this file; with --all, the docs "
                                 "directory to write (default docs)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per configuration")
    p.add_argument("--quality", action="store_true",
                   help="learning quality beside cost on the recorded signals (docs/quality.md): "
                        "horizons 1/8/15 against NLMS and RLS, the ablation, the frontier over "
                        "hidden x density x eps (about 10 minutes; --quick: seconds)")
    p.add_argument("--all", action="store_true",
                   help="regenerate <out>/benchmarks.md, its figures in <out>/bench/ and "
                        "<out>/benchmarks_readme_table.md (cost surface, growth, host speed, device "
                        "runs under QEMU, fidelity), then <out>/quality.md as --quality does "
                        "(~40 min in all; --quick ~2 min)")
    p.add_argument("--no-quality", action="store_true",
                   help="with --all: leave out the learning-quality run (docs/quality.md)")
    p.add_argument("--work", help="with --all: keep the device run directories here (default: a "
                                  "temporary directory, removed)")
    p.add_argument("--check", action="store_true",
                   help="with --all: check the output (files, tables, figures, growth criterion); "
                        "exit 1 on a problem")


def _add_run(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl run``: its options and help."""
    p = command("run", "learn a recorded signal online (host float model, C library, or a board) "
                "and write a run directory",
                "pyrtrl run --board mps2-an386 --steps 2000 --out runs/an386 --json", cmd_run)
    p.epilog += ("\n  pyrtrl run --board host --data demand.csv --inputs load,temp --horizon 4"
                 "\n  pyrtrl run --board float --data sensors.npy --inputs 0,1 --targets 2"
                 "\n\n--data FILE learns your own data: without --targets the model forecasts its input"
                 "\ncolumns --horizon steps ahead; with --targets it learns those columns at each step"
                 "\n(supervised regression). Each column is normalised causally (median and robust"
                 "\nspread of its first 10 % of rows); values that land beyond +-128 are clamped by"
                 "\nthe fixed-point learner and counted in a warning. Any number of input and target"
                 "\ncolumns on every backend (a board's firmware is built for the model's sizes)."
                 "\n\n--data SEQS.npz with arrays X (N x T x d) and y (N,) integer classes (optionally"
                 "\nX_test, y_test) is classification: state reset per sequence, the label at its last"
                 "\nstep, softmax cross-entropy, --epochs passes, then the test set without learning"
                 "\n(on a board: SET_LR 0; its weights are checked bit for bit against the host C library)."
                 "\n--data NAME runs a bundled real data set (pyrtrl dataset lists them), e.g."
                 "\n  pyrtrl run --board mps2-an386 --data ItalyPowerDemand --hidden 16 --density 0.5 \\"
                 "\n      --eps 0.5 --taps 0 --optimizer adam --lr 0.01 --epochs 10")
    p.add_argument("--board", default="mps2-an386",
                   help="a board run under QEMU (default mps2-an386): " + ", ".join(_board_names())
                        + "; host: the same C learner through cffi, no emulator; float: the host "
                        "float learner (the same rule in float) with its forecasting report")
    p.add_argument("--port", help="a real board's serial port (e.g. /dev/ttyACM0) running the "
                                  "learner firmware built for this model; with --board")
    p.add_argument("--influence-bits", type=int, choices=(16, 32), default=16,
                   help="influence storage width on devices (default 16)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--signal", default=None,
                     help="a built-in signal: ppg (default), ppg-long, water-flow (needs the "
                          "river package: pip install 'pyrtrl[signals]') or synthetic")
    src.add_argument("--data", metavar="FILE",
                     help="learn your own data instead: .csv with a header row, .npy (T or T x C) "
                          "or .npz (array x, X or data; optional string array columns); every "
                          "column normalised causally (median and spread of its first 10 %%); "
                          "an .npz with X and y (labelled sequences), or the name of a bundled "
                          "labelled set (pyrtrl dataset)")
    p.add_argument("--inputs", metavar="COLS",
                   help="with --data: the columns fed to the model, comma-separated names or "
                        "0-based indices (default: all)")
    p.add_argument("--targets", metavar="COLS",
                   help="with --data: learn these columns at each step (supervised regression, "
                        "--horizon 1); default: forecast the inputs --horizon steps ahead")
    p.add_argument("--steps", type=_positive_int, help="stop after this many samples (default: whole signal)")
    p.add_argument("--model", help="start from this .npz model instead of a fresh one")
    p.add_argument("--hidden", type=_positive_int, default=None,
                   help="hidden units of a fresh model (default: 32, or on a board the largest up "
                        "to 32 that fits it)")
    p.add_argument("--density", type=_density, default=None,
                   help=f"kept weight fraction (default {D.DENSITY})")
    p.add_argument("--eps", type=_positive_float, default=None,
                   help=f"pseudo-derivative half-width (default {D.EPS})")
    p.add_argument("--independent-masks", action="store_true", help="one mask per gate instead of shared")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help=f"learning rate of the cell's optimizer (default {D.LR} for sgd, {D.ADAM_LR} "
                        "per update for adam), on every backend")
    p.add_argument("--method", choices=("rtrl_sparse", "rtrl_dense"), default="rtrl_sparse")
    p.add_argument("--horizon", type=_positive_int, default=D.HORIZON,
                   help="forecast this many steps ahead (default 1); learning runs H-1 steps behind")
    p.add_argument("--train", choices=("all", "readout"), default=D.TRAIN,
                   help="all (default): exact RTRL trains the cell; readout: the cell is frozen "
                        "(the ablation that shows what RTRL adds)")
    p.add_argument("--readout", choices=("c", "y"), default=D.READOUT,
                   help="what a fresh model's readout reads: the state c (default) or the events y")
    p.add_argument("--taps", type=int, default=D.TAPS,
                   help=f"recent inputs a fresh model's readout also reads (default {D.TAPS})")
    p.add_argument("--readout-rule", choices=("rls", "gradient"), default=None,
                   help="how the readout learns: rls (default, recursive least squares) or gradient "
                        "(SGD; always for labelled sequences)")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="labelled sequences (--data FILE.npz with X, y): passes over the training "
                        "sequences (default 5)")
    p.add_argument("--test-every", type=_positive_int, default=None, metavar="EPOCHS",
                   help="labelled sequences: run the test set after every EPOCHS-th epoch and after "
                        "the last (default: every epoch on float and host, only after the last on a board)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=D.OPTIMIZER,
                   help=f"the cell's optimizer (and a gradient readout's): sgd or adam (default "
                        f"{D.OPTIMIZER}; betas {D.ADAM_BETA1:g}, {D.ADAM_BETA2:g}), on every backend: boards and "
                        "the C library run Adam in fixed point, its moments take 12 bytes per "
                        "gradient-learned parameter of RAM")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="runs/latest", help="run directory (default runs/latest)")
    p.add_argument("--checkpoint-every", type=_positive_int, metavar="STEPS",
                   help="device runs: dump the weights to RUN_DIR/checkpoint.npz every STEPS steps")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="device runs: load this checkpoint's weights and stream the steps after it")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")


def _add_budget(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl budget``: its options and help."""
    from .boards import board_names

    p = command("budget", "RAM and flash the C runtime needs for a model, and whether it fits a board",
                "pyrtrl budget --hidden 32 --inputs 1 --outputs 1 --density 0.2 --shared-mask "
                "--influence-bits 16 --board lm3s6965evb", cmd_budget)
    p.epilog = (p.epilog + "\n\nRAM is the learner's buffer (RTRL_REQUIRED_BYTES, exact), flash the "
                "model constants.\nA fresh model's masks are drawn as init_egru(..., seed=SEED) draws "
                "them: with\nindependent masks the recurrent union (and so the size) depends on the "
                "draw.\nWith --board: the board's RAM, the firmware reserve, whether it fits and the "
                "largest\nhidden size that would fit with the other settings unchanged.")
    p.add_argument("--hidden", type=_positive_int, help="hidden units (required without --model)")
    p.add_argument("--inputs", type=_positive_int, help="input dimension (required without --model)")
    p.add_argument("--outputs", type=_positive_int, help="readout size (required without --model)")
    p.add_argument("--density", type=_density, help="kept weight fraction (required without --model)")
    p.add_argument("--shared-mask", action="store_true", help="one mask shared by the three gates")
    p.add_argument("--influence-bits", type=int, choices=(16, 32), default=D.INFLUENCE_BITS,
                   help=f"influence matrix storage width (default {D.INFLUENCE_BITS}, as pyrtrl run)")
    p.add_argument("--seed", type=int, default=0, help="seed of the masks' draw (default 0)")
    p.add_argument("--taps", type=int, help="input taps of the readout of a fresh model (default 0)")
    p.add_argument("--readout", choices=("y", "c"), help="readout source of a fresh model (default y)")
    p.add_argument("--readout-rule", choices=("gradient", "rls"), default="gradient",
                   help="gradient (default) or rls: RLS adds its P matrix, (features+1)^2 words")
    p.add_argument("--horizon", type=_positive_int, default=1,
                   help="forecast horizon (default 1): H > 1 adds the forecast state and an input ring")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd (default) or adam: Adam adds its moments, 12 bytes per parameter "
                        "learned by gradient (the cell's, and the readout's unless RLS)")
    p.add_argument("--board", help=f"check against this board: {', '.join(board_names())}")
    p.add_argument("--model", help="budget of this .npz model (its sizes and masks) instead; the "
                   "largest-hidden search then draws fresh masks at its overall density")
    p.add_argument("--json", action="store_true", help="print a JSON object")


def _add_dataset(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl dataset``: its options and help."""
    p = command("dataset", "list the bundled labelled data sets, or write one as a labelled .npz",
                "pyrtrl dataset ItalyPowerDemand -o ipd.npz", cmd_dataset)
    p.epilog += ("\n\nReal time-series classification sets of the UCR/UEA archive, read from the files"
                 "\nthe sktime package ships (pip install 'pyrtrl[ucr]'; aeon works too), no download."
                 "\nThe .npz has X, y, X_test, y_test (normalised per channel from the training set),"
                 "\nchannel_offset, channel_scale and class_names; pyrtrl run --data FILE.npz learns it,"
                 "\nand pyrtrl run --data NAME does both at once.")
    p.add_argument("name", metavar="NAME", nargs="?", help="a data set (without: list them)")
    p.add_argument("-o", "--out", help="the .npz to write")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_report(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl report``: its options and help."""
    p = command("report", "write the report of a run directory (figures, report.md, report.json)",
                "pyrtrl report runs/an386 --json", cmd_report)
    p.epilog += ("\n\nOne report for every kind of run, picked by the summary's kind and backend. "
                 "A device run\n(pyrtrl run --board B): learning curve beside the host float "
                 "learner\n(same rule: the run's optimizer, float_learner.csv) and the naive forecaster, predictions, "
                 "activity,\ncost per step vs dense RTRL, RAM by component vs the board and BPTT. A "
                 "float run:\nlearning curve, predictions, events. A classification run: accuracy per "
                 "epoch,\nconfusion matrix. Prints report.md's path, or with --json report.json (kind, "
                 "backend,\nrun_id, report, figures, then the report's numbers).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (pyrtrl run --out DIR)")
    p.add_argument("--json", action="store_true", help="print report.json")


def _add_monitor(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl monitor``: its options and help."""
    p = command("monitor", "watch a run directory live: loss, prediction vs target, event rate, cost",
                "pyrtrl run --board mps2-an386 --out runs/an386 & pyrtrl monitor runs/an386", cmd_monitor)
    p.epilog += ("\n\nReads RUN_DIR/telemetry.csv as the run appends to it. With a display: a window "
                 "refreshed\nevery --every seconds; headless (or with --png): a PNG rewritten as often, "
                 "until the\nrun's summary.json appears or Ctrl-C. A serial port is not a SOURCE: "
                 "run\npyrtrl run --board B --port PORT --out DIR and monitor DIR.")
    p.add_argument("source", metavar="SOURCE", help="a run directory being written by pyrtrl run --out")
    p.add_argument("--png", help="write this PNG instead of a window (default RUN_DIR/monitor.png headless)")
    p.add_argument("--every", type=_positive_float, default=2.0, help="seconds between refreshes (default 2)")
    p.add_argument("--once", action="store_true", help="render one PNG and exit")
    p.add_argument("--last", type=_positive_int, default=300,
                   help="steps shown by the prediction panel (default 300)")


def _add_export(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``pyrtrl export``: its options and help."""
    p = command("export", "write a model as C arrays for a board's firmware (fails if over budget)",
                "pyrtrl export model.npz --board lm3s6965evb -o build/model", cmd_export)
    p.add_argument("model", help="model file (.npz, as written by pyrtrl.save_model)")
    p.add_argument("--board", required=True, help="target board (see pyrtrl budget --help)")
    p.add_argument("-o", "--out", required=True, help="directory for model_data.h and model_data.c")
    p.add_argument("--lr", type=_positive_float, default=D.LR,
                   help=f"learning rate (default {D.LR}, as pyrtrl run)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient clip per component (default 1)")
    p.add_argument("--update-every", type=_positive_int, default=1,
                   help="a learning step every K samples (SGD's lr is divided by K, Adam's is not)")
    p.add_argument("--readout-rule", choices=("gradient", "rls"), default="gradient",
                   help="how the readout learns on the device: gradient (default, SGD) or rls")
    p.add_argument("--train", choices=("all", "readout"), default="all",
                   help="all (default) or readout: the cell frozen")
    p.add_argument("--horizon", type=_positive_int, default=1,
                   help="forecast horizon H (default 1): learning runs H-1 steps behind")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help=f"sgd (default) or adam (fixed point, betas {D.ADAM_BETA1:g}, {D.ADAM_BETA2:g}): how the "
                        "cell and a gradient readout learn on the device; with adam --lr is per update")
    p.add_argument("--influence-bits", type=int, choices=(16, 32), default=16,
                   help="influence matrix storage width (default 16)")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")


def _board_names() -> list:
    from .boards import board_names

    return list(board_names())


def _version() -> str:
    from . import __version__

    return __version__


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the process is so that every ``finally`` runs (QEMU
    and other children are stopped, files closed) as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def _install_signal_handlers() -> "list":
    """SIGTERM and SIGHUP end a command like Ctrl-C (clean-up runs); returns the old ones."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return []
    old = []
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            old.append((sig, signal.signal(sig, _raise_terminated)))
    return old


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``pyrtrl`` command."""
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    old = _install_signal_handlers()
    try:
        return int(args.fn(args))
    except PyrtrlError as e:
        if args.debug:
            raise
        print(f"pyrtrl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        what = f" by {e}" if isinstance(e, Terminated) else ""
        print(f"pyrtrl {args.command}: interrupted{what}", file=sys.stderr)
        return 128 + e.signum if isinstance(e, Terminated) else 130
    except OSError as e:
        if args.debug:
            raise
        print(f"pyrtrl {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in old:
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
