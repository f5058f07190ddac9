"""``pyrtrl flash``: the learner firmware for a model, as files a real board takes, and the
vendor flasher's command.

The firmware is built exactly as a board run builds it (:func:`pyrtrl.runs.device.build_firmware`:
the model exported with the run's learning settings, ``make -C firmware``), and its ELF, raw
binary and Intel HEX (the firmware Makefile's ``objcopy -O binary`` / ``-O ihex``) are copied
to the output directory with the model itself (``model.npz``), so that
``pyrtrl run --board B --port PORT --model OUT/model.npz`` streams to the board with the same
model and settings and checks its weights against the host C library.

Flashing uses pyOCD or OpenOCD, whichever is installed (neither is required: ``--dry-run``
writes the files and prints the command). The MPS2/MPS3 FPGA boards have no flasher: their
images are copied to the board's USB drive, and the message says how.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import run_defaults as RD
from ..errors import PyrtrlError


@dataclass(frozen=True)
class FlashTarget:
    """How the real counterpart of a QEMU board is programmed.

    Attributes
    ----------
    real_board : str
        The board the QEMU machine stands for.
    pyocd_target : str
        ``pyocd flash -t`` target name, or ``""`` if pyOCD does not program it.
    openocd_args : tuple of str
        OpenOCD ``-f`` configuration files (interface and target, or a board file), or
        empty if OpenOCD does not program it.
    note : str
        What else a user must know (a debug probe to attach, a pack to install, a USB drive
        to copy to).
    """

    real_board: str
    pyocd_target: str = ""
    openocd_args: Tuple[str, ...] = ()
    note: str = ""


def _mps_note(name: str, image: str) -> str:
    return (f"the {name} FPGA board has no flasher: copy learner.bin to the SOFTWARE folder of its "
            f"USB drive (the board's configuration flash), name it as IMAGE0FILE at IMAGE0ADDRESS "
            f"0x00000000 in the {image} image's images.txt, then reset the board")


#: Board name (pyrtrl.boards) -> how its real counterpart is flashed.
FLASH_TARGETS: Dict[str, FlashTarget] = {
    "lm3s6965evb": FlashTarget(
        "TI Stellaris EK-LM3S6965 (on-board FTDI JTAG)", "",
        ("-f", "board/ek-lm3s6965.cfg")),
    "netduinoplus2": FlashTarget(
        "Netduino Plus 2 (STM32F405RG)", "stm32f405rg",
        ("-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg"),
        "attach an ST-Link to its SWD pads (the board has no on-board probe); pyOCD needs the "
        "target's pack: pyocd pack install stm32f405rg"),
    "mps2-an386": FlashTarget("Arm MPS2+ with the AN386 (Cortex-M4) FPGA image",
                              note=_mps_note("MPS2+", "AN386")),
    "mps2-an500": FlashTarget("Arm MPS2+ with the AN500 (Cortex-M7) FPGA image",
                              note=_mps_note("MPS2+", "AN500")),
    "mps3-an547": FlashTarget("Arm MPS3 with the AN547 (Cortex-M55) FPGA image",
                              note=_mps_note("MPS3", "AN547")),
    "microbit": FlashTarget(
        "BBC micro:bit v1 (nRF51822, DAPLink)", "nrf51",
        ("-f", "interface/cmsis-dap.cfg", "-f", "target/nrf51.cfg"),
        "without a flasher, copying learner.hex to the MICROBIT USB drive flashes it too"),
    "sifive_e": FlashTarget(
        "SiFive HiFive1 (FE310-G000, on-board FTDI JTAG)", "",
        ("-f", "board/sifive-hifive1.cfg")),
}


def flash_target(board: str) -> FlashTarget:
    """The :class:`FlashTarget` of ``board``; one-line error for an unknown board."""
    from ..boards import get_board

    get_board(board)
    if board not in FLASH_TARGETS:
        raise PyrtrlError(f"no flashing recipe for board {board}")
    return FLASH_TARGETS[board]


def flash_command(board: str, files: Dict[str, Path], which: Callable[[str], Optional[str]] = shutil.which
                  ) -> Tuple[Optional[str], Optional[List[str]]]:
    """``(tool, argv)``: pyOCD if installed and it programs the board, else OpenOCD if
    installed and it does; if neither is installed, the command of the first that programs
    the board (to print). ``(None, None)`` for a board without a flasher (MPS2/MPS3)."""
    t = flash_target(board)
    pyocd = ["pyocd", "flash", "-t", t.pyocd_target, str(files["hex"])] if t.pyocd_target else None
    openocd = (["openocd", *t.openocd_args, "-c", f"program {files['elf']} verify reset exit"]
               if t.openocd_args else None)
    for tool, cmd in (("pyocd", pyocd), ("openocd", openocd)):
        if cmd is not None and which(tool):
            return tool, cmd
    for tool, cmd in (("pyocd", pyocd), ("openocd", openocd)):
        if cmd is not None:
            return tool, cmd
    return None, None


def _quote(argv: List[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


def flash(board: str, out_dir: str, model_path: Optional[str] = None, *, dry_run: bool = False,
          lr: Optional[float] = None, influence_bits: int = RD.INFLUENCE_BITS,
          readout_rule: str = RD.READOUT_RULE, train: str = RD.TRAIN, horizon: int = RD.HORIZON,
          optimizer: str = RD.OPTIMIZER, seed: int = 0, inputs: int = 1, outputs: int = 1,
          which: Callable[[str], Optional[str]] = shutil.which) -> Dict[str, Any]:
    """Build the learner firmware for a model and write ``learner.elf``, ``.bin``, ``.hex``
    and ``model.npz`` into ``out_dir``; unless ``dry_run``, run the flasher.

    Parameters
    ----------
    board : str
        A board of :mod:`pyrtrl.boards` (its real counterpart is flashed).
    out_dir : str
        Output directory (created).
    model_path : str, optional
        The model to flash; default: the fresh model ``pyrtrl run --board B --port P``
        draws (:func:`pyrtrl.runs.device.default_model` with ``seed``, ``inputs``,
        ``outputs`` and these settings).
    dry_run : bool
        Write the files and return the command without running anything.
    lr, influence_bits, readout_rule, train, horizon, optimizer :
        The learning settings compiled into the firmware, as ``pyrtrl run`` takes them
        (``lr`` None: the optimizer's run default).
    which : callable
        ``shutil.which`` (tests pass a fake).

    Returns
    -------
    dict
        ``board, real_board, files (elf, bin, hex, model), tool, command (a shell line or
        None), ran, returncode, note, run`` (the ``pyrtrl run`` line that streams to it).
    """
    from .device import build_firmware, default_model
    from ..fixed.model import fixed_config
    from ..core.model_file import load_model, save_model

    t = flash_target(board)
    if influence_bits not in (16, 32):
        raise PyrtrlError(f"influence_bits must be 16 or 32, got {influence_bits}")
    if lr is None:
        lr = RD.ADAM_LR if optimizer == "adam" else RD.LR
    settings = dict(readout_rule=readout_rule, train=train, rls_forgetting=RD.RLS_FORGETTING,
                    rls_p0=RD.RLS_P0, horizon=horizon, optimizer=optimizer)
    fixed_config(lr, 1.0, 1, influence_bits, False, **settings)  # one-line error for a bad setting
    model = (load_model(model_path) if model_path else
             default_model(board, seed, influence_bits, readout_rule=readout_rule, horizon=horizon,
                           inputs=inputs, outputs=outputs, optimizer=optimizer))
    out = Path(out_dir).resolve()  # make runs in firmware/: paths must be absolute
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PyrtrlError(f"{out}: cannot create the output directory: {e.strerror or e}") from None
    elf = build_firmware(board, model, out, lr, influence_bits, **settings)
    files: Dict[str, Path] = {}
    for ext in ("elf", "bin", "hex"):
        src = elf.with_suffix(f".{ext}")
        if not src.is_file() or src.stat().st_size == 0:
            raise PyrtrlError(f"firmware build for {board} produced no {src.name}")
        files[ext] = out / f"learner.{ext}"
        shutil.copyfile(src, files[ext])
    files["model"] = out / "model.npz"
    save_model(files["model"], model)
    tool, argv = flash_command(board, files, which)
    flags = [f"--lr {lr:g}"] if lr != (RD.ADAM_LR if optimizer == "adam" else RD.LR) else []
    flags += [f"--{k.replace('_', '-')} {v}" for k, v in (("readout_rule", readout_rule), ("train", train),
              ("horizon", horizon), ("optimizer", optimizer), ("influence_bits", influence_bits))
              if v != {"readout_rule": RD.READOUT_RULE, "train": RD.TRAIN, "horizon": RD.HORIZON,
                       "optimizer": RD.OPTIMIZER, "influence_bits": RD.INFLUENCE_BITS}[k]]
    result: Dict[str, Any] = {
        "board": board, "real_board": t.real_board, "files": {k: str(v) for k, v in files.items()},
        "tool": tool, "command": _quote(argv) if argv else None, "ran": False, "returncode": None,
        "note": t.note, "dry_run": dry_run,
        "run": " ".join(["pyrtrl run --board", board, "--port PORT --model", str(files["model"]), *flags]),
    }
    if dry_run or argv is None:
        return result
    if not which(argv[0]):
        raise PyrtrlError(f"neither pyocd nor openocd is installed: wrote {out}/learner.{{elf,bin,hex}}; "
                          f"install one (pip install pyocd, or apt-get install openocd) or run: {_quote(argv)}")
    r = subprocess.run(argv, capture_output=True, text=True)
    result.update(ran=True, returncode=r.returncode)
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise PyrtrlError(f"{tool} failed with status {r.returncode}: {last[0]} (command: {_quote(argv)})")
    return result


def cmd_flash(args: argparse.Namespace) -> int:
    """``pyrtrl flash``."""
    import json

    res = flash(args.board, args.out or f"flash/{args.board}", args.model, dry_run=args.dry_run,
                lr=args.lr, influence_bits=args.influence_bits, readout_rule=args.readout_rule,
                train=args.train, horizon=args.horizon, optimizer=args.optimizer, seed=args.seed,
                inputs=args.inputs, outputs=args.outputs)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    for k in ("elf", "bin", "hex", "model"):
        print(f"wrote {res['files'][k]}")
    print(f"board: {res['real_board']}")
    if res["command"] is None:
        print(f"no flasher: {res['note']}")
    else:
        print(("would run: " if not res["ran"] else "ran: ") + res["command"])
        if res["note"]:
            print(f"note: {res['note']}")
    print(f"then: {res['run']}")
    return 0


def add_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``flash`` with the CLI's ``command(name, help, example, fn)`` helper."""
    from ..boards import board_names

    p = command("flash", "build the learner firmware for a model and flash it to a real board "
                "(pyocd or openocd, whichever is installed)",
                "pyrtrl flash --board microbit --dry-run", cmd_flash)
    p.epilog += ("\n\nWrites OUT/learner.elf, .bin and .hex (and model.npz, the model flashed), built as a "
                 "board run\nbuilds them, then runs the flasher and prints its exact command (--dry-run: "
                 "prints it\nand runs nothing). The MPS2/MPS3 FPGA boards are programmed by copying the .bin "
                 "to\ntheir USB drive: the message says how. Then stream to the board with the printed\n"
                 "pyrtrl run --board B --port PORT --model OUT/model.npz (same settings).")
    p.add_argument("--board", required=True, choices=board_names(), metavar="BOARD",
                   help="the board: " + ", ".join(board_names()))
    p.add_argument("--model", help="the model (.npz); default: the fresh model pyrtrl run --port draws")
    p.add_argument("--out", help="output directory (default flash/BOARD)")
    p.add_argument("--dry-run", action="store_true", help="write the files and print the command; run nothing")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {RD.LR} for sgd, {RD.ADAM_LR} for adam, as pyrtrl run)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=RD.OPTIMIZER,
                   help=f"as pyrtrl run (default {RD.OPTIMIZER})")
    p.add_argument("--readout-rule", choices=("rls", "gradient"), default=RD.READOUT_RULE,
                   help=f"as pyrtrl run (default {RD.READOUT_RULE})")
    p.add_argument("--train", choices=("all", "readout"), default=RD.TRAIN, help=f"as pyrtrl run (default {RD.TRAIN})")
    p.add_argument("--horizon", type=int, default=RD.HORIZON, help=f"as pyrtrl run (default {RD.HORIZON})")
    p.add_argument("--influence-bits", type=int, choices=(16, 32), default=RD.INFLUENCE_BITS,
                   help=f"as pyrtrl run (default {RD.INFLUENCE_BITS})")
    p.add_argument("--inputs", type=int, default=1, help="inputs of the default model (default 1)")
    p.add_argument("--outputs", type=int, default=1, help="outputs of the default model (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the default model (default 0, as pyrtrl run)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
