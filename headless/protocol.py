"""The farm's wire protocol: ZeroMQ multipart messages with a JSON header, never pickle.

Every message is ``[MAGIC, command, header JSON, *payload frames]`` (the broker's ROUTER adds
the worker's routing id in front). The style follows the ZeroMQ guide's reliable patterns
(Paranoid Pirate / Majordomo): heartbeats both ways, a worker that re-registers when the
broker does not know it, and a fencing token (`attempt`) on everything that belongs to a job,
so a result from a superseded attempt is recognised and discarded.

A lease is bound to the worker that holds it: the JOB message carries an unguessable `token`,
and the broker also records the holder's identity (its CURVE public key with CURVE, its
ZeroMQ routing id otherwise). CHUNK, DONE and FAIL must come from the holder and carry the
token; a reconnecting worker re-binds its leases by naming them with their tokens in READY/HB
(`held: [[job, attempt, token], ...]`). Everything else is refused, logged and counted.
Every field has a type and a range (`get_int`, `get_bool`, `parse_ready`, `parse_held`): a
value outside them makes the message malformed, so nothing unbounded reaches the job table.

Worker → broker:
  READY   {worker, host, pid, renderer, held?, want_job?}  register (again, after a reconnect)
  HB      {held?, want_job?}                               heartbeat; names the jobs it holds
  CHUNK   {job, attempt, token, k, kind, offset, size, sha256} + 1 payload frame   one piece of a file
  DONE    {job, attempt, token, files: [{k, kind, size, sha256}], infos: {k: info}, render_s, want_job?}
  FAIL    {job, attempt, token, error, want_job?}
  RELEASE {job, attempt, token}                            hand a job back unrendered (a stopping worker)
  BYE     {}
Broker → worker:
  WELCOME {spec, heartbeat_s, liveness, chunk_size, window, shared}   after READY
  HB      {}
  JOB     {job, attempt, token, pid, lease_s, staging?} + 1 frame: the character sample (JSON)
  ACK     {job, attempt, k, kind, offset, ok, reason?}   per chunk: the flow-control credit
  RESULT  {job, attempt, accepted, reason?}              the verdict on DONE / FAIL / RELEASE
  RESET   {reason}                                       "I do not know you": reconnect
  PAUSE   {reason}                                       storage fault: take no new job, keep results
  BYE     {}                                             the run is over; exit
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"SHF1"

READY, HB, CHUNK, DONE, FAIL, BYE = b"READY", b"HB", b"CHUNK", b"DONE", b"FAIL", b"BYE"
RELEASE = b"RELEASE"
WELCOME, JOB, ACK, RESULT, RESET, PAUSE = b"WELCOME", b"JOB", b"ACK", b"RESULT", b"RESET", b"PAUSE"
WORKER_COMMANDS = frozenset({READY, HB, CHUNK, DONE, FAIL, RELEASE, BYE})
BROKER_COMMANDS = frozenset({WELCOME, HB, JOB, ACK, RESULT, RESET, PAUSE, BYE})

FILE_KINDS = ("image", "mask")
CHUNK_SIZE = 256 * 1024  # bytes of file data per CHUNK message
MAX_HEADER = 256 * 1024  # a DONE header carries per-image infos (keypoints, bboxes)
MAX_PAYLOAD = 1024 * 1024  # hard cap of one payload frame
MAX_FILE_SIZE = 64 * 1024 * 1024  # one image or mask
MAX_FRAMES = 5
MAX_DEPTH = 8  # nesting of a header's JSON (a DONE header's keypoints sit at depth 5)
MAX_ITEMS = 50_000  # values in one header, all levels together
# libzmq drops (and disconnects) peers sending anything larger: the first line of defence.
MAX_MESSAGE_SIZE = MAX_HEADER + MAX_PAYLOAD + 4096
# Ranges of the numbers a worker sends: SQLite stores 64-bit integers, and a bigger Python int
# (`READY {"pid": 2**70}`) would raise OverflowError deep in the broker instead of being refused.
MAX_ID = 2**31 - 1  # job ids and attempts (each lease of a job adds one)
MAX_PID = 2**31 - 1
MAX_HELD = 16  # leases one READY/HB may name (a worker holds one job and a few results)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"[^A-Za-z0-9_.:@-]")
_TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
_IMAGE_KEY_RE = re.compile(r"^[0-9]{1,3}$")  # DONE `infos` keys: image indices (k < 1000)


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
        raise ProtocolError(f"{command.decode()} header is not JSON ({str(exc)[:100]})") from None
    except RecursionError:  # json's C parser refuses ~1000 levels; ours is far lower (below)
        raise ProtocolError(f"{command.decode()} header nests deeper than {MAX_DEPTH}") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"{command.decode()} header is not a JSON object")
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH or len(raw) > 2 * MAX_ITEMS:
        check_shape(header, command.decode())  # else it cannot nest deeper or hold more: skip the walk
    payload = [f if type(f) is bytes else bytes(f) for f in frames[3:]]  # no copy of what is bytes already
    if any(len(p) > MAX_PAYLOAD for p in payload):
        raise ProtocolError(f"{command.decode()} payload exceeds {MAX_PAYLOAD} bytes")
    return Message(command, header, payload)


def check_shape(value: Any, what: str, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Bound a parsed header's nesting depth and number of values (iteratively: no recursion)."""
    stack = [(value, 1)]
    items = 0
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if depth > max_depth:
            raise ProtocolError(f"{what} header nests deeper than {max_depth}")
        items += len(children)
        if items > max_items:
            raise ProtocolError(f"{what} header holds more than {max_items} values")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


# ---------------------------------------------------------------------------------------
# Field checks: the broker trusts nothing a worker sends.


def new_token() -> str:
    """An unguessable lease token (128 bits)."""
    import secrets

    return secrets.token_hex(16)


def get_token(header: dict[str, Any], key: str = "token") -> str | None:
    """The lease token of a message, or None if absent or malformed (refused by the caller)."""
    v = header.get(key)
    return v if isinstance(v, str) and _TOKEN_RE.match(v) else None


def get_int(header: dict[str, Any], key: str, low: int = 0, high: int = 2**62, default: int | None = None) -> int:
    v = header.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ProtocolError(f"field {key!r}: expected an integer in {low}..{high}, got {str(v)[:40]}")
    return v


def get_bool(header: dict[str, Any], key: str, default: bool) -> bool:
    v = header.get(key, default)
    if type(v) is not bool:
        raise ProtocolError(f"field {key!r}: expected true or false, got {str(v)[:40]}")
    return v


def parse_ready(header: dict[str, Any], fallback_name: str) -> tuple[str, str, int, str]:
    """(name, host, pid, renderer) of a READY, made safe for logs and the job table."""
    return (safe_name(header.get("worker") or fallback_name), safe_name(get_str(header, "host", 200, "")),
            get_int(header, "pid", 0, MAX_PID, default=0), safe_name(get_str(header, "renderer", 200, "")))


def parse_held(header: dict[str, Any]) -> list[tuple[int, int, str]]:
    """The leases a READY/HB names: [(job, attempt, token)]. Entries of the wrong shape or range
    are skipped (the broker cannot re-bind them anyway); more than MAX_HELD is malformed."""
    held = header.get("held", [])
    if not isinstance(held, list) or len(held) > MAX_HELD:
        raise ProtocolError(f"field 'held': expected a list of at most {MAX_HELD} [job, attempt, token]")
    out = []
    for e in held:
        if isinstance(e, list) and len(e) == 3:
            job, attempt, token = e
            if (type(job) is int and 0 <= job <= MAX_ID and type(attempt) is int and 1 <= attempt <= MAX_ID
                    and isinstance(token, str) and _TOKEN_RE.match(token)):
                out.append((job, attempt, token))
    return out


def parse_done(header: dict[str, Any], n_images: int,
               max_size: int) -> tuple[list[tuple], dict[int, Any], float | None]:
    """(files as (k, kind, size, sha256), per-image infos by k, render_s) of a DONE. The infos'
    contents are checked later against INFO_SCHEMA (`validate_image_info`), off the broker's loop."""
    files_raw = header.get("files")
    infos_raw = header.get("infos") or {}
    if not isinstance(files_raw, list) or len(files_raw) > 2 * 1000 or not isinstance(infos_raw, dict):
        raise ProtocolError("DONE: 'files' must be a list and 'infos' an object")
    files = [(get_int(f, "k", 0, 999), get_kind(f), get_int(f, "size", 1, max_size), get_sha256(f))
             for f in files_raw if isinstance(f, dict)]
    infos: dict[int, Any] = {}
    for key, v in infos_raw.items():
        if not (_IMAGE_KEY_RE.match(key) and int(key) < n_images):
            raise ProtocolError(f"DONE: 'infos' key {key[:20]!r} is not an image of this job")
        infos[int(key)] = v
    render_s = header.get("render_s")
    return files, infos, render_s if finite_number(render_s, 0.0, 1e9) else None


# The addresses of the command lines (`broker --bind`, `worker --connect`): checked before any
# socket or file exists, since libzmq takes a port of 99999 modulo 65536 and says nothing.
_ENDPOINT_RE = re.compile(r"^tcp://(\[[0-9A-Fa-f:.]+\]|\*|[^\s/:\[\]*]+):(\d{1,5})$")


def endpoint_problem(endpoint: str, bind: bool) -> str | None:
    """None for a usable ZeroMQ address, else what is wrong with it. `bind`: port 0 (any free
    port) and the host `*` are allowed."""
    if re.match(r"^(ipc|inproc)://\S+$", endpoint or ""):
        return None
    m = _ENDPOINT_RE.match(endpoint or "")
    low = 0 if bind else 1
    if m is None or (m.group(1) == "*" and not bind):
        return f"expected tcp://HOST:PORT (or ipc://PATH), got {str(endpoint)[:80]!r}"
    if not low <= int(m.group(2)) <= 65535:
        return f"port {m.group(2)} is out of range {low}..65535"
    return None


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


# ---------------------------------------------------------------------------------------
# Per-image info (DONE `infos`): what only the renderer knows. Validated field by field before
# it is stored; the fields that name a file, a subset, an index or a camera are the broker's
# own and never come from here.

RESERVED_INFO_KEYS = frozenset({"file", "mask", "k", "subset", "camera_id", "pid", "split", "sha256",
                                "mask_sha256"})
_COORD = 1e7  # pixel and world coordinates: generous, finite


def finite_number(v: Any, low: float, high: float) -> bool:
    """An int or float (not a bool) in low..high; NaN fails every comparison, infinities the range."""
    t = type(v)
    return (t is float or t is int) and low <= v <= high


def _numbers_ok(v: Any, n: int, low: float, high: float) -> bool:
    if type(v) is not list or len(v) != n:
        return False
    for x in v:
        t = type(x)
        if not ((t is float or t is int) and low <= x <= high):
            return False
    return True


def _numbers(n: int, low: float = -_COORD, high: float = _COORD, ints: bool = False):
    if ints:
        return lambda v: _numbers_ok(v, n, low, high) and all(type(x) is int for x in v)
    return lambda v: _numbers_ok(v, n, low, high)


def _matrix(rows: int, cols: int):
    return lambda v: (type(v) is list and len(v) == rows
                      and all(_numbers_ok(r, cols, -_COORD, _COORD) for r in v))


def _text(max_len: int):
    return lambda v: type(v) is str and len(v) <= max_len


def _keypoints(v: Any) -> bool:
    """{joint: [x, y] or [x, y, visible]}: written out, as the real renderer sends ~20 per image."""
    if type(v) is not dict or len(v) > 256:
        return False
    for name, p in v.items():
        if type(name) is not str or len(name) > 64 or type(p) is not list or not 2 <= len(p) <= 3:
            return False
        for x in p:
            t = type(x)
            if not ((t is float or t is int) and -_COORD <= x <= _COORD):
                return False
    return True


def _timings(v: Any) -> bool:
    if type(v) is not dict or len(v) > 64:
        return False
    for name, t in v.items():
        if type(name) is not str or len(name) > 64 or not finite_number(t, 0.0, 1e7):
            return False
    return True


INFO_SCHEMA = {
    "bbox": _numbers(4),
    "frame_size": _numbers(2, 1, 1_000_000, ints=True),
    "crop_size": _numbers(2, 1, 1_000_000, ints=True),
    "keypoints": _keypoints,
    "person_box_world": _matrix(2, 3),
    "camera_matrix": _matrix(4, 4),
    "camera_reaimed": lambda v: type(v) is bool,
    "pose_source": _text(200),
    "pose_fallback": _text(2000),
    "engine": _text(40),
    "renderer": _text(40),
    "timings": _timings,
}


def validate_image_info(info: Any, k: int) -> dict[str, Any]:
    """A worker's info for image `k`, checked against INFO_SCHEMA; raises ProtocolError naming the field."""
    if not isinstance(info, dict):
        raise ProtocolError(f"info of image {k}: expected an object")
    for key, value in info.items():
        if key in RESERVED_INFO_KEYS:
            raise ProtocolError(f"info of image {k}: field {str(key)[:40]!r} is set by the broker, not a worker")
        check = INFO_SCHEMA.get(key)
        if check is None:
            raise ProtocolError(f"info of image {k}: unknown field {str(key)[:40]!r}")
        if not check(value):
            raise ProtocolError(f"info of image {k}: field {key!r} has a bad type, size or value "
                                f"(finite numbers in range expected)")
    return info
