"""What a non-regular file is, in words (for refusals that name it)."""

from __future__ import annotations

import stat


def kind(mode: int) -> str:
    """'a symlink', 'a FIFO', 'a socket', 'a device', 'a directory' or 'not a regular
    file', from an st_mode."""
    return ("a symlink" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if
            stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a directory" if stat.S_ISDIR(mode)
            else "not a regular file")
