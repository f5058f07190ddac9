"""The package's layers, enforced from its import graph.

Each module of ``pyrtrl`` belongs to one layer and imports only from its own layer or the
layers below it, at module level or inside a function alike (a lazy import is still a
dependency). A new module must be given a layer here: the test fails on a module it does not
know. No module imports another module's private name.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, Optional, Set, Tuple

PKG = Path(__file__).resolve().parents[1] / "pyrtrl"

#: Bottom to top. A module may import from its own layer and every layer before it. A layer is
#: a subpackage (all its modules), except the base and the api, which are top-level modules.
LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    # what everything may use: errors, argument checks, the defaults of a run, where the
    # package's files are, the board table, the compiled extensions
    ("base", ("errors", "checks", "run_defaults", "paths", "boards", "__version__",
              "_kernels_c", "_rtrl16", "_rtrl32")),
    # the float model and its exact learning, the online baselines
    ("core", ("core",)),
    # the executable specification of runtime_c in numpy integers
    ("fixed", ("fixed",)),
    # data: users' files, bundled data sets, recorded signals, synthetic tasks
    ("data", ("data",)),
    # what a model becomes on a target: the C library binding, the memory budget, export
    ("deploy", ("deploy",)),
    # talking to a target: the wire protocol, the host client and simulated device, QEMU
    ("device", ("device",)),
    # the run directory's files and the reports read from them
    ("reporting", ("reporting",)),
    # runs: float, host C and boards, labelled sequences, flashing a board, open_target
    ("runs", ("runs",)),
    # benchmarks and the documents they write
    ("benchmarks", ("benchmarks",)),
    # the public package and the command line
    ("api", ("pyrtrl", "cli", "__main__")),
)

#: Build scripts run by setup.py, not part of the installed package's import graph.
BUILD_SCRIPTS = {"_build_kernels", "_build_runtime"}


def _rank() -> Dict[str, int]:
    return {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}


def _layer_of(module: str) -> Optional[int]:
    """The layer of a dotted module name below ``pyrtrl`` (a subpackage's modules share its
    layer), or None for a module no layer names."""
    rank = _rank()
    if module in rank:
        return rank[module]
    return rank.get(module.split(".")[0]) if "." in module else None


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
    unknown = sorted(m for m, _ in _modules() if _layer_of(m) is None)
    assert not unknown, f"give these modules a layer in tests/test_layering.py: {unknown}"


def test_every_subpackage_is_one_layer():
    """The package's directories are its layers: a new subpackage must be placed in LAYERS."""
    dirs = sorted(d.name for d in PKG.iterdir()
                  if (d / "__init__.py").is_file() and not d.name.startswith("_"))
    layers = sorted(m for _, mods in LAYERS for m in mods if (PKG / m).is_dir())
    assert dirs == layers


def test_imports_go_down_the_layers():
    names = {i: layer for i, (layer, _) in enumerate(LAYERS)}
    bad = []
    for mod, path in _modules():
        for target, _ in _imports(mod, path):
            got = _layer_of(target)
            if got is not None and got > _layer_of(mod):
                bad.append(f"{mod} ({names[_layer_of(mod)]}) imports {target} ({names[got]})")
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
    p = tmp_path / "model.py"
    p.write_text("def f():\n    from ..runs.host import run_host\n    from .optim import _private\n"
                 "    from ..device import protocol\n")
    got = dict((t, n) for t, n in _imports("core.model", p))
    assert got == {"runs.host": {"run_host"}, "core.optim": {"_private"}, "device": {"protocol"}}
    assert _layer_of("runs.host") > _layer_of("core.model")
    assert _layer_of("device") > _layer_of("core.model")
