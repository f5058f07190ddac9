"""What a test needs from the machine: one rule for every test that runs a tool.

A test that needs QEMU, a cross compiler, make or a host compiler calls :func:`require` (or
:func:`require_board`) first. Outside CI a missing tool skips the test, loudly, naming the
tools and the Debian packages to install; in CI (``CI`` set to anything but 0/false/no) it
fails, because ``.ci/run`` must install everything the tests need.
"""
from __future__ import annotations

import os
import shutil
from typing import Dict, Iterable, Optional

import pytest

#: Debian packages that provide each tool the tests use.
PACKAGES: Dict[str, str] = {
    "make": "make",
    "gcc": "gcc",
    "cc": "gcc",
    "clang": "clang",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-objcopy": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "gcc-arm-none-eabi",
    "arm-none-eabi-nm": "gcc-arm-none-eabi",
    "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
    "riscv64-unknown-elf-objcopy": "gcc-riscv64-unknown-elf",
    "riscv64-unknown-elf-size": "gcc-riscv64-unknown-elf",
    "qemu-system-arm": "qemu-system-arm",
    "qemu-system-riscv32": "qemu-system-misc",
}

#: The cross tools a board's firmware build uses, by its architecture (firmware/boards/*.mk).
ARCH_TOOLS = {
    "cortexm": ("arm-none-eabi-gcc", "arm-none-eabi-objcopy", "arm-none-eabi-size"),
    "riscv": ("riscv64-unknown-elf-gcc", "riscv64-unknown-elf-objcopy", "riscv64-unknown-elf-size"),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_message(tools: Iterable[str]) -> Optional[str]:
    """None when every tool is on PATH, else one line naming them and their packages."""
    missing = [t for t in dict.fromkeys(tools) if shutil.which(t) is None]
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(" ".join(PACKAGES.get(t, t) for t in missing).split()))
    return f"MISSING TOOLS: {', '.join(missing)} not on PATH; install with: apt-get install {packages}"


def require(*tools: str, why: str = "") -> None:
    """Skip (locally) or fail (in CI) unless every tool is on PATH."""
    msg = missing_message(tools)
    if msg is None:
        return
    if why:
        msg += f" ({why})"
    if in_ci():
        pytest.fail(msg + "; CI is set: .ci/run must install it", pytrace=False)
    pytest.skip(msg)


def board_tools(board: str) -> tuple:
    """make, a host compiler, the board's cross tools and its QEMU."""
    from board_files import board_mk

    from pyrtrl.boards import get_board

    b = get_board(board)
    PACKAGES.setdefault(b.qemu, b.qemu_package)
    return ("make", "gcc") + ARCH_TOOLS[board_mk(board)["ARCH"]] + (b.qemu,)


def require_board(board: str, *extra: str, why: str = "") -> None:
    """:func:`require` what building and running ``board``'s firmware under QEMU takes."""
    require(*board_tools(board), *extra, why=why)
