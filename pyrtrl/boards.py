"""The microcontroller boards pyrtrl targets under QEMU: one description per board.

Every tool that needs a board fact (memory budget, firmware build, QEMU command line) reads
it from here. Memory sizes are what QEMU 7.2 maps for the machine (docs measured in
``qemu-targets.md``): RAM is the block at ``ram_base`` the firmware links its data into,
flash the block at ``flash_base`` its code and constants go to.

``clock_hz`` is the nominal core clock of the *real* board (or FPGA image). QEMU does not
model cycles, so it is only good for converting counted instructions into an optimistic
time on the real part (one instruction per cycle, no wait states), never a measurement.

The firmware describes the same boards in ``firmware/boards/<name>.mk`` (plus the UART and
the clock the firmware actually runs at); ``tests/device/test_firmware_boot.py`` checks that both
agree on machine, emulator, target, memory sizes and bases. :mod:`pyrtrl.device.qemu` starts QEMU
from the fields here (``qemu``, ``machine``, ``qemu_cpu``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from .errors import PyrtrlError

KIB = 1024
MIB = 1024 * KIB

#: RAM the firmware keeps for itself (stack, UART buffers, the application and the
#: ``rtrl_t`` context, which lives outside the learner's buffer) on boards with at least
#: 64 KiB of RAM. A first estimate: the firmware issue measures and may refine it.
RESERVE_LARGE = 4 * KIB
#: The same on the 16 KiB boards (micro:bit, sifive_e), where 4 KiB would be a quarter of
#: the RAM; their firmware must keep stack and buffers small.
RESERVE_SMALL = 2 * KIB


def default_reserve(ram_bytes: int) -> int:
    """The default :data:`RESERVED_RAM` of a board with ``ram_bytes`` of RAM."""
    return RESERVE_LARGE if ram_bytes >= 64 * KIB else RESERVE_SMALL


@dataclass(frozen=True)
class Board:
    """One QEMU machine and the real board it stands for.

    Attributes
    ----------
    name : str
        What users type (``--board``); the QEMU machine name.
    machine : str
        QEMU ``-M`` argument.
    qemu : str
        QEMU system emulator binary.
    cpu : str
        Core, as in the board's documentation.
    target : str
        runtime_c/Makefile cross target that builds the library for this core.
    ram_bytes, flash_bytes : int
        RAM and flash (code) sizes QEMU maps.
    ram_base, flash_base : int
        Where they start (linker script origins).
    clock_hz : int
        Nominal core clock of the real board (QEMU does not model cycles).
    reserved_ram : int
        RAM kept for the firmware itself; the learner's buffer gets the rest.
    qemu_cpu : str
        QEMU ``-cpu`` argument, or ``""`` for the machine's own core (every board so far).
    """

    name: str
    machine: str
    qemu: str
    cpu: str
    target: str
    ram_bytes: int
    flash_bytes: int
    ram_base: int
    flash_base: int
    clock_hz: int
    reserved_ram: int
    qemu_cpu: str = ""

    @property
    def qemu_package(self) -> str:
        """Debian package that provides :attr:`qemu`."""
        return QEMU_PACKAGES.get(self.qemu, self.qemu)

    @property
    def learner_ram(self) -> int:
        """RAM left for the learner's buffer after the firmware's reserve."""
        return self.ram_bytes - self.reserved_ram

    def describe(self) -> str:
        """One line: name, core, memory and nominal clock."""
        return (f"{self.name} ({self.cpu}, {_kib(self.ram_bytes)} RAM, {_kib(self.flash_bytes)} "
                f"flash, {self.clock_hz / 1e6:g} MHz nominal)")


#: QEMU system emulator -> the Debian package that ships it.
QEMU_PACKAGES: Dict[str, str] = {
    "qemu-system-arm": "qemu-system-arm",
    "qemu-system-riscv32": "qemu-system-misc",
}


def _kib(n: int) -> str:
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n // KIB} KiB"


def _board(name: str, qemu: str, cpu: str, target: str, ram: int, flash: int, ram_base: int,
           flash_base: int, clock_hz: int) -> Board:
    return Board(name, name, qemu, cpu, target, ram, flash, ram_base, flash_base, clock_hz,
                 default_reserve(ram))


#: Every known board, in the order tools list them. Clocks are the real boards' nominal
#: core clocks: lm3s6965 50 MHz; STM32F405 168 MHz; the MPS2 FPGA images (AN386, AN500) run
#: their SYSCLK at 25 MHz (QEMU's mps2.c uses the same SYSCLK_FRQ); MPS3 AN547 32 MHz
#: (QEMU mps2-tz.c sysclk_frq); nRF51 16 MHz; sifive_e (HiFive1, FE310) 16 MHz crystal.
BOARDS: Tuple[Board, ...] = (
    _board("lm3s6965evb", "qemu-system-arm", "Cortex-M3", "cortex-m3",
           64 * KIB, 256 * KIB, 0x20000000, 0x00000000, 50_000_000),
    # STM32F405: QEMU maps the 128 KiB main SRAM (the 64 KiB CCM is not counted)
    _board("netduinoplus2", "qemu-system-arm", "Cortex-M4 (STM32F405)", "cortex-m4",
           128 * KIB, 1 * MIB, 0x20000000, 0x08000000, 168_000_000),
    _board("mps2-an386", "qemu-system-arm", "Cortex-M4", "cortex-m4",
           4 * MIB, 4 * MIB, 0x20000000, 0x00000000, 25_000_000),
    _board("mps2-an500", "qemu-system-arm", "Cortex-M7", "cortex-m7",
           4 * MIB, 4 * MIB, 0x20000000, 0x00000000, 25_000_000),
    # code in the 512 KiB ITCM, data in the 512 KiB DTCM
    _board("mps3-an547", "qemu-system-arm", "Cortex-M55", "cortex-m55",
           512 * KIB, 512 * KIB, 0x20000000, 0x00000000, 32_000_000),
    _board("microbit", "qemu-system-arm", "Cortex-M0 (nRF51)", "cortex-m0",
           16 * KIB, 256 * KIB, 0x20000000, 0x00000000, 16_000_000),
    # code runs from the XIP flash at 0x20400000, data in the 16 KiB DTIM
    _board("sifive_e", "qemu-system-riscv32", "RV32IMAC (FE310)", "rv32imac",
           16 * KIB, 4 * MIB, 0x80000000, 0x20400000, 16_000_000),
)

#: Board name -> :class:`Board`.
BOARDS_BY_NAME: Dict[str, Board] = {b.name: b for b in BOARDS}

#: Board name -> default bytes of RAM the firmware keeps for itself (see
#: :data:`RESERVE_LARGE`, :data:`RESERVE_SMALL`).
RESERVED_RAM: Dict[str, int] = {b.name: b.reserved_ram for b in BOARDS}


def board_names() -> Tuple[str, ...]:
    """Names of the known boards."""
    return tuple(b.name for b in BOARDS)


def get_board(name: str) -> Board:
    """The board called ``name``; one-line :class:`PyrtrlError` listing the known ones if none."""
    try:
        return BOARDS_BY_NAME[name]
    except (KeyError, TypeError):
        raise PyrtrlError(f"unknown board {name!r}; known boards: {', '.join(board_names())}") from None
