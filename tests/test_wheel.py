"""The installed package runs boards: ``pip wheel .`` -> a fresh venv outside the repository ->
``pyrtrl --help``, a host run and a board run from a scratch directory.

The venv is made with ``--system-site-packages`` and a ``.pth`` line naming this interpreter's
site-packages, so numpy & co. come from the test environment and nothing is downloaded for
them (a ``.pth`` path line adds the directory only: an editable install of the checkout there
is not activated; the tests check that ``pyrtrl`` is imported from the venv). The wheel is
built without build isolation when this interpreter has what the build needs (setuptools,
wheel, cffi); otherwise pip fetches the build requirements. Builds of the installed package
go to ``PYRTRL_CACHE`` (a temporary directory here), never into site-packages.

About a minute on 2 cores: wheel ~20 s (it compiles the C runtime and kernels), venv and
install ~8 s, host run ~7 s, board run ~10 s (firmware build and QEMU).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from needs import require_board

ROOT = Path(__file__).resolve().parents[1]
BOARD = "mps2-an386"


def _need_qemu() -> None:
    require_board(BOARD, why="the installed package's board run is not tested")


def _can_build_offline() -> bool:
    if importlib.util.find_spec("cffi") is None or importlib.util.find_spec("setuptools") is None:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    import setuptools  # >= 70.1 has bdist_wheel itself

    return tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (70, 1)


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _tree(d: Path):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(env, scratch dir, venv's pyrtrl script, venv's python, installed package dir)."""
    if shutil.which("cc") is None:
        pytest.fail("no C compiler: pip cannot build pyrtrl's wheel")
    tmp = tmp_path_factory.mktemp("wheel")
    wheels, venv, scratch = tmp / "wheels", tmp / "venv", tmp / "scratch"
    scratch.mkdir()
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    build = [*nice, sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", wheels,
             "--disable-pip-version-check", "-q"]
    if _can_build_offline():
        build.append("--no-build-isolation")
    _run(build, cwd=ROOT)
    (wheel,) = wheels.glob("pyrtrl-*.whl")
    _run([sys.executable, "-m", "venv", "--system-site-packages", venv])
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_pyrtrl_test_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    _run([py, "-m", "pip", "install", "--no-deps", "--force-reinstall", "--disable-pip-version-check",
          "-q", wheel])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYRTRL_CACHE"] = str(tmp / "cache")
    pkg = Path(_run([py, "-c", "import pyrtrl; print(pyrtrl.__file__)"], cwd=scratch, env=env)
               .stdout.strip()).parent
    return env, scratch, venv / "bin" / "pyrtrl", py, pkg, tmp / "cache"


def test_installed_package_is_the_one_imported(installed):
    env, scratch, pyrtrl, py, pkg, _ = installed
    venv = py.parent.parent
    assert pkg.is_relative_to(venv), f"pyrtrl imported from {pkg}, not from the venv {venv}"
    assert not pkg.is_relative_to(ROOT)
    assert not scratch.is_relative_to(ROOT)
    r = _run([py, "-c", "from pyrtrl.paths import sources_root, is_checkout; "
                        "print(is_checkout(), sources_root())"], cwd=scratch, env=env)
    assert r.stdout.split() == ["False", str(pkg / "_sources")]
    for f in ("firmware/Makefile", "firmware/apps/learner/learner.c", "runtime_c/Makefile",
              "runtime_c/include/rtrl.h", "tools/qemu_plugin/stepcount.c", "SOURCES_SHA256"):
        assert (pkg / "_sources" / f).is_file(), f
    assert not list((pkg / "_sources").rglob("*.o")), "build outputs in the wheel"
    assert (pkg / "fixed" / "__init__.py").is_file()
    r = _run([pyrtrl, "--help"], cwd=scratch, env=env)
    assert "usage: pyrtrl" in r.stdout


def test_installed_host_run(installed):
    env, scratch, pyrtrl, *_ = installed
    r = _run([pyrtrl, "run", "--board", "host", "--steps", "100", "--out", "host_run", "--json"],
             cwd=scratch, env=env)
    s = json.loads(r.stdout)
    assert s["weights_match_host"] is True
    assert (scratch / "host_run" / "summary.json").is_file()


def test_installed_board_run(installed):
    _need_qemu()
    env, scratch, pyrtrl, py, pkg, cache = installed
    before = _tree(pkg)
    r = _run([pyrtrl, "run", "--board", BOARD, "--steps", "200", "--out", "board_run", "--json"],
             cwd=scratch, env=env)
    s = json.loads(r.stdout)
    assert s["weights_match_host"] is True, s
    out = scratch / "board_run"
    assert (out / "summary.json").is_file() and (out / "telemetry.csv").is_file()
    assert _tree(pkg) == before, "the board run wrote into site-packages"
    (version_dir,) = cache.iterdir()
    assert list(version_dir.glob(f"firmware/{BOARD}-*/{BOARD}/learner.elf"))
    assert (version_dir / "plugin" / "stepcount.so").is_file()
    assert not (out / "firmware_build").exists(), "an installed package builds in the cache"
