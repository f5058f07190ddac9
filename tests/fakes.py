"""Stand-ins for what tests cannot provoke for real."""
from __future__ import annotations

import errno
from typing import IO, Any


class FillsUp:
    """A text file that takes ``room`` more characters, then fails mid-write as a full disk
    does: the part of the text that fits reaches the file, then OSError(ENOSPC)."""

    def __init__(self, f: IO[str], room: int) -> None:
        self.f, self.room = f, room

    def write(self, text: str) -> int:
        if len(text) > self.room:
            self.f.write(text[: self.room])
            self.f.flush()  # part of a row reaches the disk
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(text)
        return self.f.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)
