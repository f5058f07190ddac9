"""Firmware under QEMU: every board builds, boots, runs the C learner and talks over its UART.

For each board in pyrtrl.boards: ``make -C firmware BOARD=<b> APP=hello`` (into a temporary
build directory), boot it with :class:`pyrtrl.device.qemu.Qemu`, read the hello line and the
learner's counters (which must equal, number for number, the same learner compiled for the
host), check the echo, send ``exit`` and expect exit status 0. A deliberately faulting app
must end QEMU with the fault exit code (0x7E). Also: firmware/boards/*.mk agree with
pyrtrl/boards.py, and the exit codes of pyrtrl.device.qemu with firmware/common/board.h.

Needs make, gcc, the cross toolchains (gcc-arm-none-eabi libnewlib-arm-none-eabi,
gcc-riscv64-unknown-elf) and QEMU (qemu-system-arm, qemu-system-misc). Outside CI a missing
tool skips, loudly, with the packages to install; in CI (env CI set) it fails.
"""
from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from board_files import board_mk
from needs import board_tools, missing_message, require

from pyrtrl.boards import BOARDS, board_names, get_board
from pyrtrl.errors import PyrtrlError
from pyrtrl.device import qemu as pq

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
RUNTIME = ROOT / "runtime_c"
BUILD_TIMEOUT = 300
STEPS = 100


# (board, app, influence bits) built once per session, in parallel.
FAULT_CASES = [("microbit", "u"), ("microbit", "b"), ("mps2-an500", "b"), ("sifive_e", "u")]
BUILDS = sorted({(b, "hello", 32) for b in board_names()} | {("microbit", "hello", 16)}
                | {(b, "fault", 32) for b, _ in FAULT_CASES})


# --- builds ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Build every (board, app, bits) whose tools exist: {key: (dir, proc)}. Boards build in
    parallel; the apps of one board one after the other (they share its build directory)."""
    root = tmp_path_factory.mktemp("firmware_build")
    jobs = max(1, min(os.cpu_count() or 1, 8))

    def build_group(keys):
        done = []
        for board, app, bits in keys:
            out = root / f"bits{bits}"
            proc = subprocess.run(
                ["make", "-C", str(FIRMWARE), f"-j{jobs}", f"BOARD={board}", f"APP={app}",
                 f"BUILD={out}", f"INFLUENCE_BITS={bits}"],
                capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            done.append(((board, app, bits), (out / board, proc)))
        return done

    groups: dict = {}
    for key in BUILDS:
        if missing_message(board_tools(key[0])) is None:
            groups.setdefault((key[0], key[2]), []).append(key)
    with ThreadPoolExecutor(max_workers=len(groups) or 1) as pool:
        return {k: v for done in pool.map(build_group, groups.values()) for k, v in done}


def built_elf(builds, board: str, app: str, bits: int = 32) -> Path:
    require(*board_tools(board))
    out, proc = builds[(board, app, bits)]
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}\n--- stdout (tail)\n"
        f"{proc.stdout[-3000:]}\n--- stderr (tail)\n{proc.stderr[-3000:]}")
    return out / f"{app}.elf"


@pytest.fixture(scope="module")
def host_reference(tmp_path_factory):
    """The hello app's learner built for the host: {bits: {counter: value}}."""
    require("make", "gcc")
    out = tmp_path_factory.mktemp("demo_host")
    ref = {}
    for bits in (16, 32):
        exe = out / f"demo_host_{bits}"
        subprocess.run(
            ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
             f"-DRTRL_INFLUENCE_BITS={bits}", f"-I{RUNTIME / 'include'}",
             f"-I{FIRMWARE / 'apps' / 'hello'}", str(FIRMWARE / "host" / "demo_host.c"),
             str(FIRMWARE / "apps" / "hello" / "demo_learner.c"),
             *map(str, sorted((RUNTIME / "src").glob("*.c"))), "-o", str(exe)],
            check=True, capture_output=True, text=True, timeout=120)
        line = subprocess.run([str(exe), str(STEPS)], check=True, capture_output=True,
                              text=True, timeout=60).stdout
        ref[bits] = counters(line)
    return ref


def counters(line: str) -> dict:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def runtime_version() -> str:
    text = (RUNTIME / "include" / "rtrl_version.h").read_text()
    parts = [re.search(rf"#define RTRL_VERSION_{p} (\d+)", text).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


# --- board descriptions ---------------------------------------------------------------------
def test_board_files_match_pyrtrl_boards():
    """firmware/boards/*.mk and pyrtrl/boards.py describe the same boards identically."""
    files = sorted(p.stem for p in (FIRMWARE / "boards").glob("*.mk"))
    assert files == sorted(board_names())
    for b in BOARDS:
        mk = board_mk(b.name)
        assert mk["QEMU_MACHINE"] == b.machine, b.name
        assert mk["QEMU"] == b.qemu, b.name
        assert mk["QEMU_CPU"] == b.qemu_cpu, b.name
        assert mk["RTRL_TARGET"] == b.target, b.name
        assert int(mk["RAM_BYTES"]) == b.ram_bytes, b.name
        assert int(mk["FLASH_BYTES"]) == b.flash_bytes, b.name
        assert int(mk["RAM_ORIGIN"], 16) == b.ram_base, b.name
        assert int(mk["FLASH_ORIGIN"], 16) == b.flash_base, b.name
        assert int(mk["STACK_BYTES"]) <= b.reserved_ram, b.name
        assert (FIRMWARE / "drivers" / f"uart_{mk['UART_KIND']}.c").is_file(), b.name


def test_exit_codes_match_firmware_header():
    header = (FIRMWARE / "common" / "board.h").read_text()
    defined = {m.group(1): int(m.group(2), 0)
               for m in re.finditer(r"#define (EXIT_\w+) (0x[0-9A-Fa-f]+|\d+)", header)}
    assert defined == {"EXIT_OK": pq.EXIT_OK, "EXIT_APP_FAILED": pq.EXIT_APP_FAILED,
                       "EXIT_UNEXPECTED_IRQ": pq.EXIT_UNEXPECTED_IRQ,
                       "EXIT_FAULT": pq.EXIT_FAULT}
    assert pq.EXIT_FAULT == 0x7E


# --- booting --------------------------------------------------------------------------------
def boot_hello(elf: Path, board: str, bits: int, reference: dict) -> None:
    b = get_board(board)
    with pq.Qemu(board, elf, timeout=10) as q:
        hello = q.readline().decode()
        assert hello == f"pyrtrl hello board={board} runtime={runtime_version()} ram={b.ram_bytes}\n"
        learner = q.readline().decode()
        assert learner.startswith(f"learner n=4 d=1 k=1 influence_bits={bits} buffer="), learner
        line = q.readline().decode()
        got = counters(line)
        assert got.get("steps") == str(STEPS), line
        assert q.readline() == b"ok\n"
        # the device computes exactly what the host computes
        assert {k: got[k] for k in reference} == reference, line
        assert int(got["events"]) > 0 and int(got["ticks"]) > 0, line
        # the measured stack fits the reserve the board file promises the linker
        assert 0 < int(got["stack"]) <= int(board_mk(board)["STACK_BYTES"]), line

        for chunk in (b"abc", b" 123\r\n", bytes(range(0x20, 0x7F)) + b"\n", b"exi\n"):
            q.serial.write(chunk)
            assert q.read_exact(len(chunk)) == chunk
        assert q.returncode is None, "the firmware stopped before it was asked to"
        q.serial.write(b"exit\n")
        assert q.read_exact(5) == b"exit\n"
        status = q.wait(10)
        assert status == pq.EXIT_OK, f"QEMU exit status {pq.describe_status(status)}\n{q.output()}"


@pytest.mark.parametrize("board", board_names())
def test_hello_boots_learns_echoes_and_exits(builds, host_reference, board):
    boot_hello(built_elf(builds, board, "hello"), board, 32, host_reference[32])


def test_hello_16_bit_influence(builds, host_reference):
    boot_hello(built_elf(builds, "microbit", "hello", 16), "microbit", 16, host_reference[16])


def test_build_prints_size_report(builds):
    built_elf(builds, "mps2-an386", "hello")
    _, proc = builds[("mps2-an386", "hello", 32)]
    assert re.search(r"^\s+text\s+data\s+bss", proc.stdout, re.M), proc.stdout
    assert "mps2-an386/hello: flash " in proc.stdout


@pytest.mark.parametrize("board,kind", FAULT_CASES)
def test_fault_exits_with_fault_code(builds, board, kind):
    elf = built_elf(builds, board, "fault")
    with pq.Qemu(board, elf, timeout=10) as q:
        assert q.readline().startswith(f"pyrtrl fault board={board}:".encode())
        q.serial.write(kind.encode())
        status = q.wait(10)
        assert status == pq.EXIT_FAULT, (
            f"QEMU exit status {pq.describe_status(status)}\n{q.output()}")
        assert "pyrtrl firmware: fault" in q.output()


# --- pyrtrl.device.qemu errors ---------------------------------------------------------------------
def test_qemu_errors_are_one_line(builds, tmp_path):
    with pytest.raises(PyrtrlError, match="not found: build it with make -C firmware"):
        pq.Qemu("microbit", tmp_path / "missing.elf").start()

    from dataclasses import replace
    ghost = replace(get_board("microbit"), qemu="qemu-system-pyrtrl-missing")
    (tmp_path / "x.elf").write_bytes(b"")
    with pytest.raises(PyrtrlError, match="qemu-system-pyrtrl-missing not found .* install the "
                                          "Debian package"):
        pq.Qemu(ghost, tmp_path / "x.elf").start()

    elf = built_elf(builds, "microbit", "fault")
    with pq.Qemu("microbit", elf, timeout=10) as q:
        q.readline()
        with pytest.raises(PyrtrlError, match=r"timed out after 0.2 s waiting for a line from "
                                              r"the device \(got b''\)"):
            q.readline(timeout=0.2)
        with pytest.raises(PyrtrlError, match=r"did not exit within 0.2 s \(QEMU killed\)"):
            q.wait(0.2)
        assert q.returncode == -9
    assert q.stop() == -9

    # the device dies while the host waits: the error says how (exit status, QEMU's words)
    with pq.Qemu("microbit", elf, timeout=10) as q:
        q.readline()
        q.serial.write(b"u")
        with pytest.raises(PyrtrlError, match=r"serial port closed while waiting for a line .*"
                                              r"QEMU exit status 126 \(fault.*pyrtrl firmware: "
                                              r"fault exception=03"):
            q.readline()
