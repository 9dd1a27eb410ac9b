"""A disk that fills up, for tests: writes to the files of one folder stop part-way.

While :attr:`FullDisk.full`, the first write to a file under the folder writes half of its
bytes (as a filling disk does just before it refuses) and every later write fails with ENOSPC,
both through ``os.write`` and through the buffered files ``os.fdopen`` makes. ``free()`` is
space coming back.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO, Any

import pytest


def _path_of(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


class FullDisk:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, under: Path) -> None:
        self.under = str(under.resolve())
        self.full = False
        self.short_writes = 0
        self.refused = 0
        real_write, real_fdopen = os.write, os.fdopen

        def write(fd: int, data: Any) -> int:
            if not self._hits(fd):
                return real_write(fd, data)
            data = bytes(data)
            if self.short_writes == 0 and len(data) > 1:
                self.short_writes += 1
                return real_write(fd, data[: len(data) // 2])
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
            handle = real_fdopen(fd, *args, **kwargs)
            return _Filling(handle, self) if self._hits(fd) else handle

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fdopen", fdopen)

    def _hits(self, fd: int) -> bool:
        return self.full and _path_of(fd).startswith(self.under)

    def fill(self) -> FullDisk:
        self.full, self.short_writes = True, 0
        return self

    def free(self) -> None:
        self.full = False


class _Filling:
    """A buffered file on the filling disk: half of the first write, then ENOSPC."""

    def __init__(self, handle: IO[bytes], disk: FullDisk) -> None:
        self._handle = handle
        self._disk = disk

    def __enter__(self) -> _Filling:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        self._disk.refused += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        self._handle.flush()

    def fileno(self) -> int:
        return self._handle.fileno()
