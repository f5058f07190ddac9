"""Reading firmware/boards/<name>.mk from the tests (a helper module, not a test)."""

import re
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


def board_mk(name: str) -> dict:
    """The ``NAME := value`` assignments of firmware/boards/<name>.mk."""
    values = {}
    for line in (FIRMWARE / "boards" / f"{name}.mk").read_text().splitlines():
        m = re.match(r"^([A-Z_]+)\s*:=\s*(.*?)\s*$", line)
        if m:
            values[m.group(1)] = m.group(2)
    return values
