"""Make a CURVE key pair for check_zmq_hwm's stats endpoint, the secret file 0600.

    python3 -m nagios_ipc.zmqhwm.keys DIRECTORY NAME

writes DIRECTORY/NAME.key (the public key, 0644) and DIRECTORY/NAME.key_secret
(both keys, 0600, created so: never readable by others, not even for a
moment), in the zmq certificate format that --curve-server-key-file,
--curve-client-key-file and ``zmq.auth.load_certificate`` read. Existing files
are not overwritten. (pyzmq's ``zmq.auth.create_certificates`` writes the
secret file with the process's umask, usually 0644; check_zmq_hwm refuses a
secret key others can read, as ssh does.)
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple


def certificate(public: bytes, secret: Optional[bytes]) -> bytes:
    made = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    lines = ["#   ZeroMQ CURVE certificate for check_zmq_hwm",
             f"#   made by nagios_ipc.zmqhwm.keys on {made}",
             "#   ZeroMQ CURVE **Secret** Certificate" if secret else
             "#   ZeroMQ CURVE Public Certificate",
             "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return ("\n".join(lines) + "\n").encode()


def write_new(path: str, data: bytes, mode: int) -> None:
    """Create *path* with *mode* from the start (O_EXCL: never over an existing file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits off the public file
        os.write(fd, data)
    finally:
        os.close(fd)


def create(directory: str, name: str) -> Tuple[str, str]:
    import zmq

    public, secret = zmq.curve_keypair()
    public_path = os.path.join(directory, f"{name}.key")
    secret_path = os.path.join(directory, f"{name}.key_secret")
    write_new(secret_path, certificate(public, secret), 0o600)
    try:
        write_new(public_path, certificate(public, None), 0o644)
    except OSError:
        os.unlink(secret_path)
        raise
    return public_path, secret_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    args: List[str] = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0].startswith("-"):
        print("usage: python3 -m nagios_ipc.zmqhwm.keys DIRECTORY NAME", file=sys.stderr)
        return 2
    try:
        public_path, secret_path = create(args[0], args[1])
    except OSError as exc:
        print(f"cannot write the key files: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 1
    print(f"{public_path} (public, 0644)\n{secret_path} (secret, 0600)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
