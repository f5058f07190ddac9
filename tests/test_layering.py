"""The package's layers, enforced from its import graph.

Each module of ``pyrtrl`` belongs to one layer and imports only from its own layer or the
layers below it, at module level or inside a function alike (a lazy import is still a
dependency). A new module must be given a layer here: the test fails on a module it does not
know. No module imports another module's private name.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

PKG = Path(__file__).resolve().parents[1] / "pyrtrl"

#: Bottom to top. A module may import from its own layer and every layer before it.
LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    # what everything may use: errors, argument checks, the defaults of a run, where the
    # package's files are, the board table, the compiled extensions
    ("base", ("errors", "checks", "run_defaults", "paths", "boards", "__version__",
              "_kernels_c", "_rtrl16", "_rtrl32")),
    # the float model and its exact learning: forward, BPTT, RTRL, learner, model files,
    # the recorded signals, tasks, baselines and health checks
    ("core", ("model", "params", "forward", "losses", "bptt", "rtrl_common", "rtrl_dense",
              "rtrl_sparse", "kernels", "gradients", "gradcheck", "optim", "rls", "learner",
              "model_file", "tasks", "signals", "baselines", "health")),
    # the executable specification of runtime_c in numpy integers
    ("fixed", ("fixed", "fixed.arith", "fixed.adam", "fixed.rls", "fixed.quantize", "fixed.model",
               "fixed.tables")),
    # users' data: files and bundled data sets, normalised and checked against the fixed range
    ("data", ("data", "datasets")),
    # what a model becomes on a target: the C library binding, the memory budget, export
    ("deploy", ("runtime", "budget", "export")),
    # talking to a target: the wire protocol, the host client and simulated device, QEMU
    ("device", ("protocol", "device", "qemu")),
    # the run directory's files and the reports read from them
    ("reporting", ("run_files", "report_common", "report_float", "report", "monitor")),
    # runs: float, host C and boards, labelled sequences, flashing a board
    ("runs", ("host_run", "device_run", "classify", "flash", "target")),
    # benchmarks and the documents they write
    ("benchmarks", ("bench", "benchdoc", "quality")),
    # the public package and the command line
    ("api", ("pyrtrl", "cli", "__main__")),
)

#: Build scripts run by setup.py, not part of the installed package's import graph.
BUILD_SCRIPTS = {"_build_kernels", "_build_runtime"}


def _rank() -> Dict[str, int]:
    return {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}


def _modules() -> Iterator[Tuple[str, Path]]:
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG)
        if rel.parts[0].startswith("_sources") or rel.stem in BUILD_SCRIPTS:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield (".".join(parts) or "pyrtrl"), p


def _imports(name: str, path: Path) -> Iterator[Tuple[str, Set[str]]]:
    """(imported module, names taken from it) for every import of a pyrtrl module."""
    is_pkg = path.name == "__init__.py"
    here = [] if name == "pyrtrl" else name.split(".")
    pkg = here if is_pkg else here[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "pyrtrl" or node.module.startswith("pyrtrl.")):
                mod = node.module[len("pyrtrl."):] if node.module != "pyrtrl" else ""
            else:
                continue
            names = {a.name for a in node.names}
            if not mod:  # from . import x: x is a module, or a name of the package itself
                for n in names:
                    yield (n if n in _rank() else "pyrtrl"), {n}
            else:
                yield mod, names
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("pyrtrl."):
                    yield a.name[len("pyrtrl."):], set()


def test_every_module_has_a_layer():
    rank = _rank()
    unknown = sorted(m for m, _ in _modules() if m not in rank)
    assert not unknown, f"give these modules a layer in tests/test_layering.py: {unknown}"


def test_imports_go_down_the_layers():
    rank = _rank()
    names = {i: layer for i, (layer, _) in enumerate(LAYERS)}
    bad = []
    for mod, path in _modules():
        for target, _ in _imports(mod, path):
            if target not in rank:
                target = target.rsplit(".", 1)[0] if target.rsplit(".", 1)[0] in rank else target
            if target in rank and rank[target] > rank[mod]:
                bad.append(f"{mod} ({names[rank[mod]]}) imports {target} ({names[rank[target]]})")
    assert not bad, "imports from a higher layer:\n" + "\n".join(sorted(set(bad)))


def test_no_module_imports_a_private_name():
    bad = []
    for mod, path in _modules():
        for target, names in _imports(mod, path):
            for n in names:
                private = n.startswith("_") and not n.startswith("__")
                if private and n not in ("_rtrl16", "_rtrl32", "_kernels_c"):  # extension modules
                    bad.append(f"{mod} imports {target}.{n}")
    assert not bad, "\n".join(bad)


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The walk finds a lazy import inside a function and ranks it (the test can fail)."""
    p = tmp_path / "errors.py"
    p.write_text("def f():\n    from .cli import main\n    from .model import _private\n")
    got = dict((t, n) for t, n in _imports("errors", p))
    assert got == {"cli": {"main"}, "model": {"_private"}}
    assert _rank()["cli"] > _rank()["errors"]
