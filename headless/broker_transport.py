"""The broker's ZeroMQ side: one ROUTER socket, bound safely, read and written frame by frame.

A ROUTER socket puts the sender's routing id in front of every message it receives and takes
the receiver's routing id in front of every message it sends; with CURVE, each received
message also carries the sender's public key (its ZAP user id), to which the broker binds
leases. What the frames after the routing id mean is `protocol.py`'s business, what to do
with a message the broker's.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import zmq

from . import protocol as P
from .security import SecurityError, is_loopback_endpoint, secure_broker_socket

log = logging.getLogger("headless.broker_transport")

_NOBLOCK = int(zmq.NOBLOCK)  # plain ints: pyzmq's enum flags cost a Python call per use
_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)


class BindError(ValueError):
    """The address cannot be bound (in use, not an address of this machine): one line, exit 2."""


class BrokerSocket:
    """The broker's bound ROUTER socket (and, with CURVE, its authenticator)."""

    def __init__(self, ctx: zmq.Context, bind: str, curve_secret: Path | None = None,
                 curve_authorized: Path | None = None, insecure: bool = False):
        """Bind `bind` (a port of 0 picks a free one); without CURVE only a loopback address,
        unless `insecure`. Raises SecurityError naming the missing option, BindError naming the
        address."""
        problem = P.endpoint_problem(bind, bind=True)
        if problem:
            raise BindError(f"--bind {bind}: {problem}")
        secure = curve_secret is not None
        if not secure and not insecure and not is_loopback_endpoint(bind):
            raise SecurityError(f"refusing to bind {bind} without CURVE: give --curve-secret and "
                                "--curve-authorized (see `python -m headless certs`), or --insecure on a "
                                "trusted network")
        sock = self.sock = ctx.socket(zmq.ROUTER)
        sock.linger = 0
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to a vanished peer fails instead of vanishing
        sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_SIZE)
        # At most 1,000 unread messages per peer (an honest worker has its window of chunks and a
        # heartbeat in flight): a flooding peer is held back by TCP instead of filling the broker's
        # memory (10,000 deep-nested messages raised its peak by 25 MiB with 100,000, 3 MiB with this).
        sock.sndhwm, sock.rcvhwm = 100_000, 1000
        self._curve = None
        try:
            if secure:
                if curve_authorized is None:
                    raise SecurityError("--curve-secret needs --curve-authorized (folder of worker public keys)")
                self._curve = secure_broker_socket(ctx, sock, curve_secret, curve_authorized)
            if bind.endswith(":0"):
                port = sock.bind_to_random_port(bind[:-2])
                self.endpoint = f"{bind[:-2]}:{port}"
            else:
                sock.bind(bind)
                self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        except BaseException as exc:
            self.close()
            if isinstance(exc, zmq.ZMQError):
                raise BindError(f"--bind {bind}: {exc.strerror}") from None
            raise

    @property
    def secure(self) -> bool:
        """CURVE is on: every received message names its sender's public key."""
        return self._curve is not None

    @property
    def handshakes_refused(self) -> int:
        """CURVE handshakes refused so far (unauthorised keys); 0 without CURVE."""
        return self._curve.refused if self._curve is not None else 0

    def receive(self, budget: int) -> Iterator[tuple[bytes, list[bytes], str | None]]:
        """Every waiting message (up to `budget`), without blocking, as (routing id, the frames
        after it, the sender's CURVE key or None). The frames may be empty: a malformed message."""
        recv, noblock = self.sock.recv, _NOBLOCK
        curve = self._curve is not None
        for _ in range(budget):
            # Frame by frame with int flags: pyzmq's recv_multipart costs ~40 % more per message
            # (an RCVMORE getsockopt and enum arithmetic per frame).
            try:
                frame = recv(noblock, copy=False)
            except zmq.Again:
                return
            frames = [frame.bytes]
            key = None
            while frame.more:
                frame = recv(noblock, copy=False)
                if curve and key is None:
                    key = _user_id(frame)  # the ZAP user id: the peer's CURVE public key (z85)
                if len(frames) <= P.MAX_FRAMES + 1:  # keep one too many at most: decode refuses it
                    frames.append(frame.bytes)
            yield frames[0], frames[1:], key

    def send(self, ident: bytes, frames: list[bytes]) -> bool:
        """Send one message to the peer `ident` without blocking. False: the peer is gone.

        A full send queue drops the message: the peer retries."""
        send = self.sock.send
        try:
            # Frame by frame with int flags (cheaper than send_multipart). Only the first
            # frame can fail: ZeroMQ queues a message's frames atomically.
            send(ident, _MORE)
            last = len(frames) - 1
            for i, f in enumerate(frames):
                send(f, _NOBLOCK if i == last else _MORE)
        except zmq.Again:
            log.debug("send queue full for %r; message dropped (the peer retries)", ident)
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:  # ROUTER_MANDATORY: the peer is gone
                return False
            raise
        return True

    def close(self) -> None:
        self.sock.close(linger=0)
        if self._curve is not None:
            self._curve.stop()


def _user_id(frame: zmq.Frame) -> str | None:
    """The ZAP user id of a received message (with CURVE: the sender's public key, z85)."""
    try:
        return frame.get("User-Id")
    except (zmq.ZMQError, UnicodeDecodeError):
        return None
