"""A hostile SMTP server for tests: answers every RCPT with a 451 of ~4 KB of text, each
reply different (a remote MX chooses its reply texts, and they end up as Postfix's
deferral reasons). Run inside the MTA's private network namespace:
    python hostile_mx.py PORT PIDFILE
It writes its PID to PIDFILE (the test stops it by that PID)."""

from __future__ import annotations

import os
import socketserver
import sys
import threading

COUNTER = iter(range(10 ** 9))
LOCK = threading.Lock()


class Session(socketserver.StreamRequestHandler):
    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 hostile.example ESMTP")
        for raw in self.rfile:
            verb = raw[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 hostile.example")
            elif verb == b"RCPT":
                with LOCK:
                    serial = next(COUNTER)
                # a long run of one character class: what made the old patterns quadratic
                # each reply different from its start (Postfix keeps ~3 KB of it)
                lines = [f"451-4.7.1 {serial} {chr(97 + n % 26) * 990}" for n in range(4)]
                self.reply("\r\n".join(lines) + "\r\n451 4.7.1 slow down")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    with Server(("127.0.0.1", port), Session) as server:
        with open(pidfile + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.rename(pidfile + ".tmp", pidfile)
        server.serve_forever()


if __name__ == "__main__":
    main()
