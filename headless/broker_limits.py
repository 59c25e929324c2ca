"""The broker's defences against volume: rate-limited log lines, rate-limited and bounded event
rows, throttled replies to unknown peers, and the caps on what it keeps per peer.

A peer that cannot get anything accepted can still send a lot: stale chunks with new attempt
numbers, results of jobs it never held, registrations that go silent, heartbeats from an
identity the broker does not know. Each such message costs the broker a bounded amount of
work and leaves a bounded trace: at most one log line a second per kind, a short burst of
event rows and then one a second per kind (the rest counted in the next row), an event table
trimmed to `MAX_EVENT_ROWS`, at most one RESET per peer per heartbeat, and at most
`MAX_PEERS` registered peers (docs/farm.md, threat model, has the measured figures).
"""
from __future__ import annotations

import collections
import logging
import time

MAX_PEERS = 10_000  # registered peers at once: a registration flood cannot grow the broker further
MAX_EVENT_ROWS = 10_000  # the events table is trimmed to this many rows (parked jobs are always kept)
EVENT_BURST = 20  # event rows of one kind recorded at once before the rate limit applies
UNLIMITED_EVENTS = frozenset({"parked"})  # at most one per job: never held back


class RateLimitedLog:
    """At most one log line per `interval` seconds per kind; the rest are counted and summarised.

    Every error path of the broker's message handling goes through it, so no flood of messages
    (malformed, hostile, or provoking an exception) can flood the log."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0):
        self.log, self.interval = logger, interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = collections.Counter()

    def __call__(self, kind: str, level: int, msg: str, *args, exc_info: bool = False) -> bool:
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) < self.interval:
            self._suppressed[kind] += 1
            return False
        more = self._suppressed.pop(kind, 0)
        self._last[kind] = now
        self.log.log(level, msg + (f" (+{more} similar since the last report)" if more else ""), *args,
                     exc_info=exc_info)
        return True


class EventLog:
    """Events (deaths, stale results, refusals, parked jobs) into the job table, bounded.

    Per kind a token bucket: `burst` rows at once, then one per `interval` seconds; a row
    written after some were held back says how many. `trim` keeps the table at
    `keep` rows, dropping the oldest (parked jobs stay: `status` lists why they failed)."""

    def __init__(self, table, burst: int = EVENT_BURST, interval: float = 1.0, keep: int = MAX_EVENT_ROWS):
        self.table, self.burst, self.interval, self.keep = table, burst, interval, keep
        self._tokens: dict[str, tuple[float, float]] = {}  # kind → (tokens, monotonic time of the count)
        self._held: dict[str, int] = collections.Counter()
        self.rows = table.count_events()

    def __call__(self, kind: str, detail: str, now: float) -> bool:
        if kind not in UNLIMITED_EVENTS:
            mono = time.monotonic()
            tokens, then = self._tokens.get(kind, (float(self.burst), mono))
            tokens = min(float(self.burst), tokens + (mono - then) / self.interval)
            if tokens < 1.0:
                self._tokens[kind] = (tokens, mono)
                self._held[kind] += 1
                return False
            self._tokens[kind] = (tokens - 1.0, mono)
        more = self._held.pop(kind, 0)
        self.table.event(kind, detail + (f" (+{more} similar not recorded)" if more else ""), now)
        self.rows += 1
        return True

    def trim(self) -> None:
        """Called once per heartbeat: one DELETE when the table has grown past `keep`."""
        if self.rows > self.keep:
            self.rows = self.table.trim_events(self.keep, keep_kinds=UNLIMITED_EVENTS)


class KeyedThrottle:
    """Whether to answer a key (a peer's routing id) now: at most once per `interval` seconds per
    key and `per_second` times overall. It remembers `max_keys` keys at most (the least recently
    answered are forgotten first), so a flood of new identities costs bounded memory."""

    def __init__(self, interval: float, per_second: int = 200, max_keys: int = 4096):
        self.interval, self.per_second, self.max_keys = interval, per_second, max_keys
        self._last: collections.OrderedDict[bytes, float] = collections.OrderedDict()
        self._second, self._count = 0, 0
        self.refused = 0

    def allow(self, key: bytes, now: float) -> bool:
        last = self._last.get(key)
        second = int(now)
        if second != self._second:
            self._second, self._count = second, 0
        if (last is not None and now - last < self.interval) or self._count >= self.per_second:
            self.refused += 1
            return False
        self._count += 1
        self._last[key] = now
        self._last.move_to_end(key)
        if len(self._last) > self.max_keys:
            self._last.popitem(last=False)
        return True
