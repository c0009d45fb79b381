"""Just enough ZMTP 3 (NULL mechanism, REQ/REP) to ask and answer ``stats`` with bounds.

libzmq bounds a received *frame* (ZMQ_MAXMSGSIZE) but not a *message*: a peer
that sends frames with the MORE flag for ever fills the receiving pipe (the
HWM counts complete messages only), so a REP (the helper, inside the monitored
application) or a REQ (the check, facing whatever answers at an endpoint) grows
without limit. Both ends therefore speak the NULL-mechanism protocol here, in a
few dozen lines, counting every byte a peer sends against a budget for the whole
exchange. CURVE stays with libzmq: there both ends are authenticated by keys.

Wire format (https://rfc.zeromq.org/spec/23/): a 64-byte greeting (signature
``FF 00*8 7F``, version 3.x, mechanism name, as-server flag, filler), then
frames: one flags byte (bit 0 MORE, bit 1 LONG, bit 2 COMMAND), a size (1 byte,
or 8 bytes big-endian when LONG) and the body. The NULL handshake is one READY
command each way carrying ``Socket-Type``. A REQ message is an empty delimiter
frame (MORE) followed by the body; the REP reply repeats the delimiter.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False  # typing costs start-up time: see nagios_ipc/light.py
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

MORE, LONG, COMMAND = 0x01, 0x02, 0x04
GREETING_SIZE = 64
MAX_COMMAND = 512  # a READY with Socket-Type and Identity is ~40 bytes


class ProtocolError(Exception):
    """The peer broke the protocol or a bound; the text says how (no peer bytes echoed)."""


def greeting(as_server: bool) -> bytes:
    return (b"\xff" + bytes(8) + b"\x7f" + b"\x03\x01" + b"NULL".ljust(20, b"\0")
            + (b"\x01" if as_server else b"\x00") + bytes(31))


def check_greeting(data: bytes) -> None:
    if data[0] != 0xFF or not data[9] & 1:
        raise ProtocolError("the peer does not speak ZMTP (bad signature)")
    if data[10] < 3:
        raise ProtocolError(f"the peer speaks ZMTP {data[10]}, not 3")
    if data[12:32].rstrip(b"\0") != b"NULL":
        raise ProtocolError("the peer asks for a security mechanism other than NULL "
                            "(CURVE? give the CURVE keys)")


def frame(body: bytes, flags: int = 0) -> bytes:
    if len(body) > 255:
        return struct.pack(">BQ", flags | LONG, len(body)) + body
    return struct.pack(">BB", flags, len(body)) + body


def ready(socket_type: str) -> bytes:
    value = socket_type.encode()
    body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", len(value)) + value
    return frame(body, COMMAND)


def parse_ready(body: bytes) -> Dict[str, bytes]:
    """The properties of a READY command; ProtocolError for anything else."""
    if not body.startswith(b"\x05READY"):
        if body.startswith(b"\x05ERROR"):
            raise ProtocolError("the peer refused the handshake (ERROR command)")
        raise ProtocolError("the peer's first command is not READY")
    props: Dict[str, bytes] = {}
    offset = 6
    while offset < len(body):
        size = body[offset]
        name = body[offset + 1:offset + 1 + size]
        offset += 1 + size
        if offset + 4 > len(body):
            raise ProtocolError("a READY property is cut short")
        length, = struct.unpack_from(">I", body, offset)
        offset += 4
        if offset + length > len(body):
            raise ProtocolError("a READY property is cut short")
        props[name.decode("ascii", "replace").lower()] = body[offset:offset + length]
        offset += length
    return props


class Reader:
    """Incremental parser of a peer's byte stream with a budget for the whole exchange.

    ``feed(data)`` returns the complete messages (lists of frames) seen so far;
    commands after the handshake (PING and the like) are skipped. Every byte
    counts against *budget*, and a message may have at most *max_frames*
    frames: a peer that goes over either gets ProtocolError, so a reader never
    holds more than *budget* bytes of one peer."""

    def __init__(self, budget: int, max_frames: int, peer_types: Tuple[str, ...]) -> None:
        self.budget = budget
        self.max_frames = max_frames
        self.peer_types = peer_types
        self.used = 0
        self.buffer = b""
        self.greeted = False
        self.ready = False
        self.parts: List[bytes] = []

    def reset_budget(self) -> None:
        """A new request may use the whole budget again (the old one was answered)."""
        self.used = len(self.buffer)

    def feed(self, data: bytes) -> List[List[bytes]]:
        self.used += len(data)
        if self.used > self.budget:
            raise ProtocolError(f"the peer sent more than {self.budget} bytes for one "
                                f"message")
        self.buffer += data
        messages: List[List[bytes]] = []
        while True:
            if not self.greeted:
                if len(self.buffer) < GREETING_SIZE:
                    if self.buffer and self.buffer[0] != 0xFF:
                        raise ProtocolError("the peer does not speak ZMTP (bad signature)")
                    return messages
                check_greeting(self.buffer[:GREETING_SIZE])
                self.buffer = self.buffer[GREETING_SIZE:]
                self.greeted = True
                continue
            item = self._frame()
            if item is None:
                return messages
            flags, body = item
            if flags & COMMAND:
                if not self.ready:
                    props = parse_ready(body)
                    kind = props.get("socket-type", b"").decode("ascii", "replace")
                    if kind not in self.peer_types:
                        raise ProtocolError(f"the peer is a {kind[:20] or '?'} socket, not "
                                            f"{' or '.join(self.peer_types)}")
                    self.ready = True
                continue  # PING/PONG and other commands: nothing to do for one exchange
            if not self.ready:
                raise ProtocolError("the peer sent a message before its READY command")
            self.parts.append(body)
            if len(self.parts) > self.max_frames:
                raise ProtocolError(f"the peer sent a message of more than "
                                    f"{self.max_frames} frames")
            if not flags & MORE:
                messages.append(self.parts)
                self.parts = []

    def _frame(self) -> Optional[Tuple[int, bytes]]:
        buf = self.buffer
        if len(buf) < 2:
            return None
        flags = buf[0]
        if flags & ~(MORE | LONG | COMMAND):
            raise ProtocolError("the peer sent a frame with unknown flags")
        if flags & LONG:
            if len(buf) < 9:
                return None
            size, = struct.unpack_from(">Q", buf, 1)
            start = 9
        else:
            size, start = buf[1], 2
        if flags & COMMAND and size > MAX_COMMAND:
            raise ProtocolError(f"the peer sent a command of {size} bytes")
        if size > self.budget:
            raise ProtocolError(f"the peer announced a frame of {size} bytes, over "
                                f"{self.budget}")
        if len(buf) < start + size:
            return None
        self.buffer = buf[start + size:]
        return flags, buf[start:start + size]
