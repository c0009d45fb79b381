"""spoolfloor.c in Python: the same system calls, nothing parsed, nothing counted.

    python3 benchmarks/spoolfloor.py postfix QUEUE_DIR
    python3 benchmarks/spoolfloor.py exim SPOOL_DIR

What a pure-Python full-detail reader pays before it looks at a single byte: the
interpreter's start-up plus one os.open/os.fstat/os.read/os.close call per file (and
os.stat per Exim -D file), written as tightly as Python allows. benchmarks/bench.py
measures it beside spoolfloor.c, check_mailq and check_mta_backlog. The calls per file
are written out in each loop, as in the check's own hot loops: a helper called per
file would add Python's cost of a call to the floor.
"""

from __future__ import annotations

import os
import sys

O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
REGULAR = 0o100000


def _below(top_fd: int, sub: str) -> int:
    """A new descriptor of the subdirectory *sub* of *top_fd* ('': the top itself)."""
    return os.open(sub, O_DIR, dir_fd=top_fd) if sub else os.dup(top_fd)


def leaves(top_fd: int) -> list[tuple[str, list[str]]]:
    """(subdirectory or '', file names) of a queue directory and its one-character
    hash subdirectories, at any depth."""
    found = []
    stack = [""]
    while stack:
        sub = stack.pop()
        fd = _below(top_fd, sub)
        try:
            names = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if len(entry.name) == 1:
                            stack.append(f"{sub}/{entry.name}" if sub else entry.name)
                    elif entry.name[0] != ".":
                        names.append(entry.name)
            found.append((sub, names))
        finally:
            os.close(fd)
    return found


def _pair(first_fd: int, second_fd: int, sub: str) -> tuple[int, int]:
    """Descriptors of *sub* below *first_fd* and, when *second_fd* is one and has the
    same subdirectory, below *second_fd* (else -1)."""
    second = -1
    if second_fd >= 0:
        try:
            second = _below(second_fd, sub)
        except OSError:
            pass
    return _below(first_fd, sub), second


def postfix(root: str) -> tuple[int, int]:
    op, rd, cl, fs = os.open, os.read, os.close, os.fstat
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        defer_fd = os.open("defer", O_DIR, dir_fd=root_fd)
    except OSError:
        defer_fd = -1
    messages = opened = 0
    for queue in ("incoming", "active", "deferred", "hold", "maildrop"):
        try:
            queue_fd = os.open(queue, O_DIR, dir_fd=root_fd)
        except OSError:
            continue
        logs_fd = defer_fd if queue in ("deferred", "hold") else -1
        for sub, names in leaves(queue_fd):
            dir_fd, log_fd = _pair(queue_fd, logs_fd if sub else -1, sub)
            for name in names:
                messages += 1
                try:
                    fd = op(name, O_FILE, dir_fd=dir_fd)
                except OSError:
                    continue
                opened += 1
                if fs(fd).st_mode & 0o170000 == REGULAR:
                    rd(fd, 16384)
                cl(fd)
                if log_fd >= 0 or (logs_fd >= 0 and not sub):
                    # hold/ is flat, its logs are hashed: defer/<first character>/<id>
                    try:
                        fd = (op(name, O_FILE, dir_fd=log_fd) if log_fd >= 0
                              else op(f"{name[0]}/{name}", O_FILE, dir_fd=logs_fd))
                    except OSError:
                        continue
                    opened += 1
                    if fs(fd).st_mode & 0o170000 == REGULAR:
                        rd(fd, 16384)
                    cl(fd)
            if log_fd >= 0:
                os.close(log_fd)
            os.close(dir_fd)
        os.close(queue_fd)
    return messages, opened


def exim(root: str) -> tuple[int, int]:
    op, rd, cl, fs, st = os.open, os.read, os.close, os.fstat, os.stat
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    input_fd = os.open("input", O_DIR, dir_fd=root_fd)
    try:
        msglog_fd = os.open("msglog", O_DIR, dir_fd=root_fd)
    except OSError:
        msglog_fd = -1
    messages = opened = 0
    for sub, names in leaves(input_fd):
        dir_fd, log_fd = _pair(input_fd, msglog_fd, sub)
        for name in names:
            if not name.endswith("-H"):
                continue
            messages += 1
            message_id = name[:-2]
            try:
                fd = op(name, O_FILE, dir_fd=dir_fd)
            except OSError:
                continue
            opened += 1
            if fs(fd).st_mode & 0o170000 == REGULAR:
                rd(fd, 65536)
            cl(fd)
            try:
                st(message_id + "-D", dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                pass
            if log_fd >= 0:
                try:
                    fd = op(message_id, O_FILE, dir_fd=log_fd)
                except OSError:
                    continue
                opened += 1
                if fs(fd).st_mode & 0o170000 == REGULAR:
                    rd(fd, 65536)
                cl(fd)
        if log_fd >= 0:
            os.close(log_fd)
        os.close(dir_fd)
    return messages, opened


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("postfix", "exim"):
        print("usage: spoolfloor.py postfix|exim DIRECTORY", file=sys.stderr)
        return 2
    messages, opened = (postfix if argv[0] == "postfix" else exim)(argv[1])
    print(f"{messages} messages, {opened} files opened")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
