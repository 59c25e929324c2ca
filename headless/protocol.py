"""The farm's wire protocol: ZeroMQ multipart messages with a JSON header, never pickle.

Every message is ``[MAGIC, command, header JSON, *payload frames]`` (the broker's ROUTER adds
the worker's routing id in front). The style follows the ZeroMQ guide's reliable patterns
(Paranoid Pirate / Majordomo): heartbeats both ways, a worker that re-registers when the
broker does not know it, and a fencing token (`attempt`) on everything that belongs to a job,
so a result from a superseded attempt is recognised and discarded.

Worker → broker:
  READY  {worker, host, pid, renderer, job?, attempt?}    register (again, after a reconnect)
  HB     {job?, attempt?, rendered?}                      heartbeat; names the job it holds
  CHUNK  {job, attempt, k, kind, offset, size, sha256} + 1 payload frame   one piece of a file
  DONE   {job, attempt, files: [{k, kind, size, sha256}], infos: {k: info}, render_s}
  FAIL   {job, attempt, error}
  BYE    {}
Broker → worker:
  WELCOME {spec, heartbeat_s, liveness, chunk_size, window, shared}   after READY
  HB      {}
  JOB     {job, attempt, pid, lease_s, staging?} + 1 frame: the character sample (JSON)
  ACK     {job, attempt, k, kind, offset, ok, reason?}   per chunk: the flow-control credit
  RESULT  {job, attempt, accepted, reason?}              the verdict on DONE / FAIL
  RESET   {reason}                                       "I do not know you": reconnect
  BYE     {}                                             the run is over; exit
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"SHF1"

READY, HB, CHUNK, DONE, FAIL, BYE = b"READY", b"HB", b"CHUNK", b"DONE", b"FAIL", b"BYE"
WELCOME, JOB, ACK, RESULT, RESET = b"WELCOME", b"JOB", b"ACK", b"RESULT", b"RESET"
WORKER_COMMANDS = frozenset({READY, HB, CHUNK, DONE, FAIL, BYE})
BROKER_COMMANDS = frozenset({WELCOME, HB, JOB, ACK, RESULT, RESET, BYE})

FILE_KINDS = ("image", "mask")
CHUNK_SIZE = 256 * 1024  # bytes of file data per CHUNK message
MAX_HEADER = 256 * 1024  # a DONE header carries per-image infos (keypoints, bboxes)
MAX_PAYLOAD = 1024 * 1024  # hard cap of one payload frame
MAX_FILE_SIZE = 64 * 1024 * 1024  # one image or mask
MAX_FRAMES = 5
# libzmq drops (and disconnects) peers sending anything larger: the first line of defence.
MAX_MESSAGE_SIZE = MAX_HEADER + MAX_PAYLOAD + 4096

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"[^A-Za-z0-9_.:@-]")


class ProtocolError(ValueError):
    """A malformed, oversized or unexpected message (logged and dropped, never fatal)."""


@dataclass
class Message:
    command: bytes
    header: dict[str, Any] = field(default_factory=dict)
    payload: list[bytes] = field(default_factory=list)


# One encoder for every message: `json.dumps(..., separators=...)` builds a new one per call.
_HEADER_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode(command: bytes, header: dict[str, Any] | None = None, *payload: bytes) -> list[bytes]:
    """Frames of one message (without the routing id)."""
    return [MAGIC, command, _HEADER_ENCODER.encode(header or {}).encode(), *payload]


def decode(frames: list[bytes], allowed: frozenset[bytes]) -> Message:
    """Parse and bound-check frames (without the routing id); raise ProtocolError if malformed."""
    if not 3 <= len(frames) <= MAX_FRAMES:
        raise ProtocolError(f"{len(frames)} frames (expected 3..{MAX_FRAMES})")
    magic, command, raw = bytes(frames[0]), bytes(frames[1]), frames[2]
    if magic != MAGIC:
        raise ProtocolError(f"bad protocol marker {magic[:16]!r}")
    if command not in allowed:
        raise ProtocolError(f"unknown command {command[:16]!r}")
    if len(raw) > MAX_HEADER:
        raise ProtocolError(f"{command.decode()} header of {len(raw)} bytes exceeds {MAX_HEADER}")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{command.decode()} header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"{command.decode()} header is not a JSON object")
    payload = [f if type(f) is bytes else bytes(f) for f in frames[3:]]  # no copy of what is bytes already
    if any(len(p) > MAX_PAYLOAD for p in payload):
        raise ProtocolError(f"{command.decode()} payload exceeds {MAX_PAYLOAD} bytes")
    return Message(command, header, payload)


# ---------------------------------------------------------------------------------------
# Field checks: the broker trusts nothing a worker sends.


def get_int(header: dict[str, Any], key: str, low: int = 0, high: int = 2**62) -> int:
    v = header.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ProtocolError(f"field {key!r}: expected an integer in {low}..{high}, got {v!r}"[:200])
    return v


def get_str(header: dict[str, Any], key: str, max_len: int = 200, default: str | None = None) -> str:
    v = header.get(key, default)
    if not isinstance(v, str) or len(v) > max_len:
        raise ProtocolError(f"field {key!r}: expected a string of at most {max_len} characters"[:200])
    return v


def get_sha256(header: dict[str, Any], key: str = "sha256") -> str:
    v = header.get(key)
    if not isinstance(v, str) or not _SHA256_RE.match(v):
        raise ProtocolError(f"field {key!r}: expected a lowercase hex SHA-256")
    return v


def get_kind(header: dict[str, Any]) -> str:
    v = header.get("kind")
    if v not in FILE_KINDS:
        raise ProtocolError(f"field 'kind': expected one of {FILE_KINDS}, got {str(v)[:40]!r}")
    return v


def safe_name(text: Any, max_len: int = 64) -> str:
    """A worker-supplied label made harmless for logs, tables and terminals."""
    return _NAME_RE.sub("_", str(text))[:max_len] or "unnamed"
