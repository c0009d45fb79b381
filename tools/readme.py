#!/usr/bin/env python3
"""Keep README.md's per-check reference equal to each check's --help.

    tools/readme.py          # check: exit 1 and name the stale sections
    tools/readme.py --write  # rewrite the blocks between the markers

A block is delimited by '<!-- help:check_NAME -->' and '<!-- /help:check_NAME -->'.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- help:(check_\w+) -->\n)(.*?)(<!-- /help:\2 -->)", re.S)


def help_text(check: str) -> str:
    env = dict(os.environ, COLUMNS="100", LC_ALL="C")
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, str(ROOT / "checks" / check), "--help"],
                          capture_output=True, text=True, env=env, timeout=60)
    return done.stdout


def render(text: str) -> str:
    return BLOCK.sub(lambda m: f"{m.group(1)}```text\n{help_text(m.group(2))}```\n{m.group(4)}",
                     text)


def main() -> int:
    current = README.read_text()
    wanted = render(current)
    if "--write" in sys.argv:
        README.write_text(wanted)
        return 0
    if wanted != current:
        stale = [m.group(2) for m in BLOCK.finditer(current)
                 if f"```text\n{help_text(m.group(2))}```\n" != m.group(3)]
        print("README.md is out of date with --help for: " + ", ".join(stale)
              + "; run tools/readme.py --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
