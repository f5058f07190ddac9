"""The real-board path without a board: `pyrtrl flash` writes the firmware, QEMU boots it
with its UART on a pseudo-terminal (like a flashed board on a USB-serial port: it runs
before anyone listens, so its boot HELLO and CREDIT are lost), and `pyrtrl run --port
/dev/pts/N` streams to it through pyserial's Serial, the code a USB-serial board uses, while
`pyrtrl monitor` watches the run directory. The device's weights equal the host C
library's."""

import json
import os
import subprocess
import sys
import time

import pytest
from needs import require_board

from pyrtrl.cli import main

BOARD = "mps2-an386"
STEPS = 400


def _pyrtrl(*args):
    return [sys.executable, "-m", "pyrtrl", *args]


def test_run_and_monitor_over_a_pty_match_the_host(tmp_path, capsys):
    require_board(BOARD)
    from pyrtrl.device.qemu import PtyQemu

    fw, run = tmp_path / "fw", tmp_path / "run"
    assert main(["flash", "--board", BOARD, "--out", str(fw), "--dry-run", "--json"]) == 0
    flashed = json.loads(capsys.readouterr().out)
    assert flashed["command"] is None and "USB drive" in flashed["note"]  # an FPGA board
    with PtyQemu(BOARD, flashed["files"]["elf"]) as q:
        assert q.path.startswith("/dev/pts/") and os.path.exists(q.path)
        time.sleep(0.3)  # the board has booted, nobody listening: its HELLO is gone
        runner = subprocess.Popen(_pyrtrl("run", "--board", BOARD, "--port", q.path, "--model",
                                          flashed["files"]["model"], "--steps", str(STEPS), "--out",
                                          str(run), "--json"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (run / "telemetry.csv").exists():  # the run directory is being written
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "no telemetry.csv within 60 s"
            time.sleep(0.05)
        png = tmp_path / "monitor.png"
        monitor = subprocess.run(_pyrtrl("monitor", str(run), "--png", str(png), "--every", "0.3"),
                                 capture_output=True, text=True, timeout=120)
        out, err = runner.communicate(timeout=120)
        assert runner.returncode == 0, err
        assert q.proc.poll() is None  # a board is never told to exit: it keeps running
    s = json.loads(out)
    assert s["weights_match_host"] is True
    assert s["steps"] == STEPS and s["status"] == "finished"
    assert s["frames_bad"] == 0 and s["seq_gaps"] == 0 and s["device_errors"] == 0
    assert s["qemu_exit_status"] is None and s["instructions_per_step"] is None  # no emulator of ours
    assert monitor.returncode == 0, monitor.stderr
    assert f"run finished: {STEPS} steps" in monitor.stdout
    assert png.stat().st_size > 1000


def _ihex_bytes(path):
    """The data bytes of an Intel HEX file, every record's checksum checked; ends at EOF."""
    n = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            assert line.startswith(":"), line
            rec = bytes.fromhex(line[1:])
            assert len(rec) == rec[0] + 5 and sum(rec) % 256 == 0, line
            if rec[3] == 0x00:
                n += rec[0]
            elif rec[3] == 0x01:
                return n
    raise AssertionError(f"{path}: no end-of-file record")


@pytest.mark.parametrize("board", ["microbit", "mps2-an386"])
def test_flash_dry_run_writes_elf_bin_hex_and_prints_the_command(board, tmp_path, capsys):
    require_board(board)
    out = tmp_path / "fw"
    assert main(["flash", "--board", board, "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    for ext in ("elf", "bin", "hex"):
        assert (out / f"learner.{ext}").stat().st_size > 0
    assert (out / "learner.elf").read_bytes()[:4] == b"\x7fELF"
    # the hex holds what the bin holds (the bin pads gaps between sections, the hex does not)
    assert 0 < _ihex_bytes(out / "learner.hex") <= (out / "learner.bin").stat().st_size
    assert f"then: pyrtrl run --board {board} --port PORT --model {out / 'model.npz'}" in text
    if board == "microbit":
        assert f"would run: pyocd flash -t nrf51 {out / 'learner.hex'}" in text
    else:
        assert "no flasher:" in text and "images.txt" in text


def test_flash_command_picks_the_installed_flasher(tmp_path):
    from pyrtrl.boards import board_names
    from pyrtrl.runs.flash import FLASH_TARGETS, flash_command

    assert set(FLASH_TARGETS) == set(board_names())  # every board has a recipe
    files = {k: tmp_path / f"learner.{k}" for k in ("elf", "bin", "hex")}
    only = lambda tool: (lambda name: f"/usr/bin/{name}" if name == tool else None)  # noqa: E731
    assert flash_command("microbit", files, only("pyocd")) == \
        ("pyocd", ["pyocd", "flash", "-t", "nrf51", str(files["hex"])])
    tool, cmd = flash_command("microbit", files, only("openocd"))
    assert tool == "openocd" and cmd[-2:] == ["-c", f"program {files['elf']} verify reset exit"]
    assert "target/nrf51.cfg" in cmd
    tool, cmd = flash_command("sifive_e", files, only("pyocd"))  # pyOCD has no RISC-V: openocd
    assert tool == "openocd" and "board/sifive-hifive1.cfg" in cmd
    assert flash_command("mps3-an547", files, only("pyocd")) == (None, None)


def test_flash_without_a_flasher_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    require_board("microbit")
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n, *a, **k: None if n in ("pyocd", "openocd") else real(n, *a, **k))
    assert main(["flash", "--board", "microbit", "--out", str(tmp_path / "fw")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "neither pyocd nor openocd is installed" in err
    assert "pyocd flash -t nrf51" in err and (tmp_path / "fw" / "learner.hex").is_file()


def test_flash_errors_are_one_line(tmp_path, capsys):
    assert main(["flash", "--board", "mps2-an386", "--model", str(tmp_path / "nope.npz"),
                 "--out", str(tmp_path / "fw"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyrtrl flash: error:") and "\n" not in err
