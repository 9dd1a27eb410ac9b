"""The open-file limit: every loaded segment keeps its documents and its index mapped."""

from __future__ import annotations

import contextlib

FILES_PER_SEGMENT = 2
"""Open files a loaded segment keeps: its documents and its index, each mapped."""
SPARE_FILES = 512
"""Open files left for everything else (journals, sockets, the app's own)."""


def allow_open_files(needed: int) -> None:
    """Raise this process's limit of open files to ``needed`` (its soft limit, never past the
    hard one) when it is lower: macOS allows 256 by default, many Linux desktops 1,024, and a
    store of ten million completions maps 500 segments."""
    try:
        import resource
    except ImportError:  # Windows has no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    with contextlib.suppress(ValueError, OSError):  # then the system's limit is the limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
