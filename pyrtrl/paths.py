"""Where the C sources a board run compiles live, and where an installed package builds them.

A board run compiles the firmware (``firmware/``, which builds ``runtime_c/``) and the QEMU
instruction-counting plugin (``tools/qemu_plugin/``). In a source checkout they are the
repository's own directories and builds go where they always went (the run's ``--out``).
An installed package (``pip install .`` or a wheel) carries copies of them as package data
under ``pyrtrl/_sources/`` (put there by ``setup.py`` at build time, same layout); it never
writes there: its builds go to a user cache directory, :func:`cache_dir`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import PyrtrlError

PACKAGE = Path(__file__).resolve().parent
BUNDLED = PACKAGE / "_sources"
# The files setup.py ships (relative to the repository root) and hashes; see _shipped_files.
SHIPPED_DIRS = ("firmware", "runtime_c/include", "runtime_c/src", "tools/qemu_plugin")
SHIPPED_FILES = ("runtime_c/Makefile",)
SHIPPED_SUFFIXES = (".c", ".h", ".S", ".mk", ".ld")
SHIPPED_NAMES = ("Makefile", "README.md")
HASH_FILE = "SOURCES_SHA256"


def is_checkout() -> bool:
    """True when pyrtrl is imported from a source checkout (``pyrtrl/`` beside ``firmware/``)."""
    root = PACKAGE.parent
    return (root / "pyproject.toml").is_file() and (root / "firmware" / "Makefile").is_file()


def sources_root() -> Path:
    """The directory holding ``firmware/``, ``runtime_c/`` and ``tools/qemu_plugin/``: the
    repository in a checkout, the package data of an installed package."""
    if is_checkout():
        return PACKAGE.parent
    if (BUNDLED / "firmware" / "Makefile").is_file():
        return BUNDLED
    raise PyrtrlError(f"pyrtrl's firmware sources are missing: neither a source checkout nor "
                      f"{BUNDLED} (reinstall the package: pip install pyrtrl's source directory)")


def firmware_dir() -> Path:
    return sources_root() / "firmware"


def plugin_source(name: str = "stepcount.c") -> Path:
    return sources_root() / "tools" / "qemu_plugin" / name


def shipped_files(root: Path):
    """The source files a wheel carries, relative to ``root`` (sorted): firmware/ without its
    build outputs, runtime_c's Makefile, include/ and src/, and the QEMU plugins."""
    out = [Path(f) for f in SHIPPED_FILES if (root / f).is_file()]
    for d in SHIPPED_DIRS:
        for dirpath, dirnames, filenames in os.walk(root / d):
            dirnames[:] = sorted(x for x in dirnames if x != "build" and not x.startswith("."))
            for name in filenames:
                if name.endswith(SHIPPED_SUFFIXES) or name in SHIPPED_NAMES:
                    out.append((Path(dirpath) / name).relative_to(root))
    return sorted(set(out))


def sources_hash(root: Path) -> str:
    """SHA-256 over the shipped files' paths and contents."""
    h = hashlib.sha256()
    for rel in shipped_files(root):
        h.update(rel.as_posix().encode() + b"\0")
        h.update((root / rel).read_bytes() + b"\0")
    return h.hexdigest()


def cache_dir() -> Path:
    """Where an installed package builds firmware and plugins: ``$PYRTRL_CACHE``, else
    ``$XDG_CACHE_HOME/pyrtrl``, else ``~/.cache/pyrtrl``; inside it one directory per
    package version and sources hash (``0.1.0-<12 hex>``), so versions never share builds."""
    from . import __version__

    base = os.environ.get("PYRTRL_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg, "pyrtrl") if xdg else os.path.join(Path.home(), ".cache", "pyrtrl")
    root = sources_root()
    stamp = root / HASH_FILE
    digest = stamp.read_text().strip() if stamp.is_file() else sources_hash(root)
    return Path(base).expanduser() / f"{__version__}-{digest[:12]}"
