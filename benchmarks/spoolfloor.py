"""spoolfloor.c in Python: the same system calls, nothing parsed, nothing counted.

    python3 benchmarks/spoolfloor.py postfix QUEUE_DIR
    python3 benchmarks/spoolfloor.py exim SPOOL_DIR

What a pure-Python full-detail reader pays before it looks at a single byte: the
interpreter's start-up plus one os.open/os.fstat/os.read/os.close call per file (and
os.stat per Exim -D file), written as tightly as Python allows. benchmarks/bench.py
measures it beside spoolfloor.c, check_mailq and check_mta_backlog.
"""

from __future__ import annotations

import os
import sys

O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
REGULAR = 0o100000


def leaves(top_fd: int) -> list[tuple[str, list[str]]]:
    """(subdirectory or '', file names) of a queue directory and its one-character
    hash subdirectories, at any depth."""
    found = []
    stack = [""]
    while stack:
        sub = stack.pop()
        fd = os.open(sub, O_DIR, dir_fd=top_fd) if sub else os.dup(top_fd)
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


def postfix(root: str) -> int:
    op, rd, cl, fs = os.open, os.read, os.close, os.fstat
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        defer_fd = os.open("defer", O_DIR, dir_fd=root_fd)
    except OSError:
        defer_fd = -1
    messages = 0
    for queue in ("incoming", "active", "deferred", "hold", "maildrop"):
        try:
            queue_fd = os.open(queue, O_DIR, dir_fd=root_fd)
        except OSError:
            continue
        logs = queue in ("deferred", "hold") and defer_fd >= 0
        for sub, names in leaves(queue_fd):
            dir_fd = os.open(sub, O_DIR, dir_fd=queue_fd) if sub else os.dup(queue_fd)
            log_fd = -1
            if logs:
                try:
                    log_fd = os.open(sub, O_DIR, dir_fd=defer_fd) if sub else os.dup(defer_fd)
                except OSError:
                    pass
            for name in names:
                messages += 1
                try:
                    fd = op(name, O_FILE, dir_fd=dir_fd)
                except OSError:
                    continue
                if fs(fd).st_mode & 0o170000 == REGULAR:
                    rd(fd, 16384)
                cl(fd)
                if log_fd >= 0:
                    try:
                        fd = op(name, O_FILE, dir_fd=log_fd)
                    except OSError:
                        continue
                    if fs(fd).st_mode & 0o170000 == REGULAR:
                        rd(fd, 16384)
                    cl(fd)
            if log_fd >= 0:
                os.close(log_fd)
            os.close(dir_fd)
        os.close(queue_fd)
    return messages


def exim(root: str) -> int:
    op, rd, cl, fs, st = os.open, os.read, os.close, os.fstat, os.stat
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    input_fd = os.open("input", O_DIR, dir_fd=root_fd)
    try:
        msglog_fd = os.open("msglog", O_DIR, dir_fd=root_fd)
    except OSError:
        msglog_fd = -1
    messages = 0
    for sub, names in leaves(input_fd):
        dir_fd = os.open(sub, O_DIR, dir_fd=input_fd) if sub else os.dup(input_fd)
        log_fd = -1
        if msglog_fd >= 0:
            try:
                log_fd = os.open(sub, O_DIR, dir_fd=msglog_fd) if sub else os.dup(msglog_fd)
            except OSError:
                pass
        for name in names:
            if not name.endswith("-H"):
                continue
            messages += 1
            message_id = name[:-2]
            try:
                fd = op(name, O_FILE, dir_fd=dir_fd)
            except OSError:
                continue
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
                if fs(fd).st_mode & 0o170000 == REGULAR:
                    rd(fd, 65536)
                cl(fd)
        if log_fd >= 0:
            os.close(log_fd)
        os.close(dir_fd)
    return messages


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("postfix", "exim"):
        print("usage: spoolfloor.py postfix|exim DIRECTORY", file=sys.stderr)
        return 2
    print(f"{(postfix if argv[0] == 'postfix' else exim)(argv[1])} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
