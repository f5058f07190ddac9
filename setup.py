"""Only here for what pyproject.toml cannot say: cffi's ``cffi_modules`` (setuptools reads them
from setup(), not from pyproject.toml), and the C sources a board run compiles (firmware/,
runtime_c/'s Makefile, include/ and src/, tools/qemu_plugin/), which a built package carries
as package data under pyrtrl/_sources/ (same layout; see pyrtrl/paths.py)."""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _paths_module():
    """pyrtrl/paths.py's file list, loaded without importing pyrtrl (numpy may be absent in
    the build environment)."""
    import sys
    import types

    # paths.py imports .errors (a plain module): give it a package to be relative to.
    pkg = types.ModuleType("_pyrtrl_setup")
    pkg.__path__ = [str(HERE / "pyrtrl")]
    sys.modules.setdefault("_pyrtrl_setup", pkg)
    spec = importlib.util.spec_from_file_location("_pyrtrl_setup.paths", HERE / "pyrtrl" / "paths.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class build_py_with_sources(build_py):
    """build_py, then copy the board sources into <build_lib>/pyrtrl/_sources (from scratch:
    nothing stale from an earlier build), with their SHA-256 (the cache key of an installed
    package's builds). Not for an editable install: that runs from the checkout."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        paths = _paths_module()
        dest = Path(self.build_lib) / "pyrtrl" / "_sources"
        if dest.exists():
            shutil.rmtree(dest)
        for rel in paths.shipped_files(HERE):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(HERE / rel, dest / rel)
        (dest / paths.HASH_FILE).write_text(paths.sources_hash(HERE) + "\n")


setup(
    cmdclass={"build_py": build_py_with_sources},
    cffi_modules=[
        "pyrtrl/_build_kernels.py:ffibuilder",
        "pyrtrl/_build_runtime.py:ffibuilder32",
        "pyrtrl/_build_runtime.py:ffibuilder16",
    ],
)
