"""Boot firmware under QEMU, its UART on a loopback TCP port opened with pyserial.

The device's serial port is ``serial.serial_for_url("socket://127.0.0.1:PORT")``, the same
pyserial object a USB-serial adapter gives for a real board, so host code does not care
which it talks to. QEMU's exit status carries the firmware's verdict (semihosting
SYS_EXIT_EXTENDED; the codes are in :data:`EXIT_CODES` and ``firmware/common/board.h``).

    from pyrtrl.device.qemu import Qemu
    with Qemu("mps2-an386", "firmware/build/mps2-an386/hello.elf") as q:
        print(q.readline())          # b"pyrtrl hello board=mps2-an386 ...\\n"
        q.serial.write(b"exit\\n")
        status = q.wait(5)           # 0

Facts this relies on (docs/qemu-targets.md): ``server=on,wait=on`` holds the guest until the
host connects, so no early output is lost; ``nodelay=on`` avoids about 45 ms per exchange
(Nagle); QEMU keeps running after the host disconnects, so :meth:`Qemu.stop` ends it by
its PID. Every failure is a one-line :class:`~pyrtrl.errors.PyrtrlError`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence, Union

from ..boards import Board, get_board
from ..errors import PyrtrlError

#: QEMU exit statuses the firmware produces (firmware/common/board.h).
EXIT_OK = 0
EXIT_APP_FAILED = 1
EXIT_UNEXPECTED_IRQ = 0x7D
EXIT_FAULT = 0x7E
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_APP_FAILED: "application failed",
    EXIT_UNEXPECTED_IRQ: "unexpected interrupt",
    EXIT_FAULT: "fault (HardFault, bus/usage fault or RISC-V trap)",
}

DEFAULT_TIMEOUT = 5.0          # seconds to wait for the device (a line, bytes, the exit)
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds for QEMU to open its serial port
_PORT_ATTEMPTS = 5             # fresh ports to try if another process grabbed ours


def _die_with_parent() -> None:
    """In the child, before exec (Linux): the kernel sends it SIGKILL when the process that
    started it dies, however that happens (even SIGKILL, where no clean-up code runs)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def describe_status(status: Optional[int]) -> str:
    """Human-readable QEMU exit status: ``"126 (fault ...)"``, ``"killed by signal 9"``."""
    if status is None:
        return "still running"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        return f"killed by {name}"
    meaning = EXIT_CODES.get(status)
    return f"{status} ({meaning})" if meaning else str(status)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serial_module():
    try:
        import serial  # pyserial
    except ImportError:
        raise PyrtrlError("pyserial is not installed: pip install 'pyserial>=3.5'") from None
    return serial


class Qemu:
    """One QEMU process running ``elf`` on ``board``, with its first UART as :attr:`serial`.

    Parameters
    ----------
    board : str or Board
        Board name (see :func:`pyrtrl.boards.board_names`) or description.
    elf : path
        Firmware image (``firmware/build/<board>/<app>.elf``).
    timeout : float
        Default seconds for :meth:`readline`, :meth:`read_exact` and :meth:`wait`, and the
        serial port's own read timeout.
    connect_timeout : float
        Seconds for QEMU to start listening on its serial port.
    icount : int, optional
        ``-icount shift=N``: deterministic virtual time, N = log2 ns per instruction.
    extra_args : sequence of str
        More QEMU arguments (e.g. ``["-plugin", ...]``).
    """

    def __init__(self, board: Union[str, Board], elf: Union[str, os.PathLike], *,
                 timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 icount: Optional[int] = None, extra_args: Sequence[str] = ()) -> None:
        self.board = board if isinstance(board, Board) else get_board(board)
        self.elf = Path(elf)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.icount = icount
        self.extra_args = list(extra_args)
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self._serial = None
        self._log = None
        self._final_output = ""

    # --- life cycle ---------------------------------------------------------------------
    def command(self, port: int) -> List[str]:
        """The QEMU command line, serial port 0 on 127.0.0.1:``port``."""
        b = self.board
        cmd = [b.qemu, "-M", b.machine]
        if b.qemu_cpu:
            cmd += ["-cpu", b.qemu_cpu]
        cmd += ["-nographic", "-monitor", "none",
                "-semihosting-config", "enable=on,target=native",
                "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"]
        if self.icount is not None:
            cmd += ["-icount", f"shift={int(self.icount)}"]
        return cmd + self.extra_args + ["-kernel", str(self.elf)]

    def start(self) -> "Qemu":
        """Start QEMU and connect to its serial port (the guest starts on connection)."""
        if self.proc is not None:
            raise PyrtrlError(f"QEMU for {self.board.name} is already started")
        if not self.elf.is_file():
            raise PyrtrlError(f"firmware image {self.elf} not found: build it with "
                              f"make -C firmware BOARD={self.board.name} APP={self.elf.stem}")
        if shutil.which(self.board.qemu) is None:
            raise PyrtrlError(f"{self.board.qemu} not found (needed for board "
                              f"{self.board.name}): install the Debian package "
                              f"{self.board.qemu_package}")
        serial = _serial_module()
        for _attempt in range(_PORT_ATTEMPTS):
            self._spawn(_free_port())
            if self._connect(serial):
                return self
            # QEMU exited before listening: retry only if the port was taken meanwhile
            if "Address already in use" not in self.output():
                break
            self._close_log()
        status = self.proc.returncode
        last = self._last_output_line()
        self._close_log()
        raise PyrtrlError(f"QEMU for {self.board.name} exited with status {status} before "
                          f"opening its serial port" + (f": {last}" if last else ""))

    def _spawn(self, port: int) -> None:
        self.port = port
        self._log = tempfile.TemporaryFile(prefix="pyrtrl-qemu-")
        self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def _connect(self, serial) -> bool:
        """Connected: True; QEMU exited first: False; neither within the timeout: raise."""
        deadline = time.monotonic() + self.connect_timeout
        url = f"socket://127.0.0.1:{self.port}"
        while True:
            try:
                self._serial = serial.serial_for_url(url, timeout=self.timeout)
                return True
            except serial.SerialException:
                if self.proc.poll() is not None:
                    return False
                if time.monotonic() > deadline:
                    self._kill()
                    self._close_log()
                    raise PyrtrlError(
                        f"QEMU for {self.board.name} did not open its serial port "
                        f"127.0.0.1:{self.port} within {self.connect_timeout:g} s") from None
                time.sleep(0.02)

    def wait(self, timeout: Optional[float] = None) -> int:
        """Wait for the firmware to end QEMU; its exit status. Kills QEMU on timeout."""
        t = self.timeout if timeout is None else timeout
        self._require_started()
        try:
            return self.proc.wait(timeout=t)
        except subprocess.TimeoutExpired:
            self._kill()
            raise PyrtrlError(f"{self.board.name}: the firmware did not exit within {t:g} s "
                              f"(QEMU killed)") from None

    def stop(self) -> Optional[int]:
        """Close the port and end QEMU (SIGKILL to its PID if it still runs); its exit status.

        Negative when it had to be killed (``-9``): QEMU turns SIGTERM into a clean exit
        with status 0, which would look like success.
        """
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._kill()
        self._close_log()
        return self.proc.returncode

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> "Qemu":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- state --------------------------------------------------------------------------
    @property
    def serial(self):
        """The pyserial object of the device's UART (``read``, ``write``, ``timeout`` ...)."""
        self._require_started()
        if self._serial is None:
            raise PyrtrlError(f"QEMU for {self.board.name}: the serial port is closed")
        return self._serial

    @property
    def pid(self) -> Optional[int]:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> Optional[int]:
        """QEMU's exit status, None while it runs."""
        return None if self.proc is None else self.proc.poll()

    def output(self) -> str:
        """What QEMU wrote to stdout / stderr so far (its messages, semihosting text)."""
        if self._log is None:
            return self._final_output
        pos = self._log.tell()
        try:
            self._log.seek(0)
            return self._log.read().decode("utf-8", "replace")
        finally:
            self._log.seek(pos)

    def _close_log(self) -> None:
        if self._log is not None:
            self._final_output = self.output()
            self._log.close()
            self._log = None

    def _last_output_line(self) -> str:
        lines = [ln.strip() for ln in self.output().splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def _require_started(self) -> None:
        if self.proc is None:
            raise PyrtrlError(f"QEMU for {self.board.name} is not started")

    # --- talking to the device ----------------------------------------------------------
    def readline(self, timeout: Optional[float] = None) -> bytes:
        """One line from the device, ``b"\\n"`` included."""
        return self._read(lambda buf: buf.endswith(b"\n"), b"\n", timeout, "a line")

    def read_exact(self, n: int, timeout: Optional[float] = None) -> bytes:
        """Exactly ``n`` bytes from the device."""
        return self._read(lambda buf: len(buf) >= n, None, timeout, f"{n} bytes", n)

    def _read(self, done, terminator, timeout, what, size=None) -> bytes:
        serial = _serial_module()
        port = self.serial
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        buf = b""
        saved = port.timeout
        try:
            while not done(buf):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PyrtrlError(f"{self.board.name}: timed out after {t:g} s waiting for "
                                      f"{what} from the device (got {buf[-80:]!r})")
                port.timeout = remaining
                try:
                    if terminator is not None:
                        buf += port.read_until(terminator)
                    else:
                        buf += port.read(size - len(buf))
                except serial.SerialException:
                    self._raise_gone(buf, what)
        finally:
            if self._serial is not None:
                port.timeout = saved
        return buf

    def _raise_gone(self, buf: bytes, what: str) -> None:
        try:
            status = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            status = None
        last = self._last_output_line()
        raise PyrtrlError(f"{self.board.name}: the serial port closed while waiting for {what} "
                          f"(got {buf[-80:]!r}); QEMU exit status {describe_status(status)}"
                          + (f"; QEMU said: {last}" if last else "")) from None


class PtyQemu:
    """Firmware booted under QEMU with its first UART on a pseudo-terminal, like a flashed
    board on a USB-serial port: the guest runs at once (boot output before a host opens
    :attr:`path` is lost, as on a board), and any pyserial user opens :attr:`path`
    (``pyrtrl run --board B --port /dev/pts/N``). :class:`Qemu` (a socket held until the
    host connects) is what board runs use; this is for testing the real-board path.

    Parameters
    ----------
    board : str or Board
        Board name or description.
    elf : path
        Firmware image (e.g. what ``pyrtrl flash`` wrote).
    timeout : float
        Seconds for QEMU to announce its pseudo-terminal.
    extra_args : sequence of str
        More QEMU arguments.
    """

    def __init__(self, board: Union[str, Board], elf: Union[str, os.PathLike], *,
                 timeout: float = DEFAULT_CONNECT_TIMEOUT, extra_args: Sequence[str] = ()) -> None:
        self.board = board if isinstance(board, Board) else get_board(board)
        self.elf = Path(elf)
        self.timeout = float(timeout)
        self.extra_args = list(extra_args)
        self.path: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    def command(self) -> List[str]:
        """The QEMU command line, serial port 0 on a new pseudo-terminal."""
        b = self.board
        cmd = [b.qemu, "-M", b.machine] + (["-cpu", b.qemu_cpu] if b.qemu_cpu else [])
        return cmd + ["-nographic", "-monitor", "none", "-semihosting-config", "enable=on,target=native",
                      "-serial", "pty"] + self.extra_args + ["-kernel", str(self.elf)]

    def start(self) -> "PtyQemu":
        """Start QEMU; return once it has said which /dev/pts it redirected the UART to."""
        import re

        if self.proc is not None:
            raise PyrtrlError(f"QEMU for {self.board.name} is already started")
        if not self.elf.is_file():
            raise PyrtrlError(f"firmware image {self.elf} not found (pyrtrl flash --board "
                              f"{self.board.name} --dry-run writes one)")
        if shutil.which(self.board.qemu) is None:
            raise PyrtrlError(f"{self.board.qemu} not found (needed for board {self.board.name}): "
                              f"install the Debian package {self.board.qemu_package}")
        self._log = tempfile.TemporaryFile(prefix="pyrtrl-qemu-pty-")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        deadline = time.monotonic() + self.timeout
        while True:
            m = re.search(r"char device redirected to (\S+)", self.output())
            if m:
                self.path = m.group(1)
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                status = self.stop()
                lines = [ln for ln in self.output().splitlines() if ln.strip()]
                raise PyrtrlError(f"QEMU for {self.board.name} announced no pseudo-terminal "
                                  f"(status {describe_status(status)})" + (f": {lines[-1]}" if lines else ""))
            time.sleep(0.02)

    def output(self) -> str:
        """What QEMU wrote so far."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> Optional[int]:
        """End QEMU by its PID (SIGKILL if it still runs); its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "PtyQemu":
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
