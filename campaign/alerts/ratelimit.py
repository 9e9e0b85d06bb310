"""The send rate, shared by every worker: a token bucket for all mail (``SEND_RATE`` messages
per second) and one per recipient domain, plus the "relay paused" flag.

With ``REDIS_URL`` the buckets live in Redis and one Lua script takes tokens from all of them
atomically, using the Redis server's clock, so any number of workers on any number of machines
share one rate. Without Redis (the embedded default: one process) the same algorithm runs in
memory. Redis keys hold a keyed hash of the domain, never the domain itself.

A batch asks for tokens for its next messages, in order; the answer says which of them may
go now. A message whose domain is out of tokens does not hold up the others behind it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from flask import current_app

from campaign.extensions import blind_index
from config import Config

log = logging.getLogger(__name__)

BURST_SECONDS: Final = 1.0  # a bucket holds this many seconds' worth of tokens
UNLIMITED: Final = 1e9
KEY_TTL_MS: Final = 60_000
RELAY_KEY: Final = "campaign:relay:paused_until"
RELAY_EPISODES_KEY: Final = "campaign:relay:episodes"
# A relay that keeps refusing is paused for longer each time: base × 2^(n-1), at most this.
RELAY_PAUSE_MAX: Final = 15 * 60.0
# Episodes are forgotten after this long without a new one, or at the next message sent.
RELAY_MEMORY: Final = 3600

# KEYS[1] the pause, KEYS[2] the episode count. ARGV: base pause (ms), longest pause (ms),
# episode memory (s). Starts a pause unless one is under way; returns its length in ms, or 0.
_RELAY_LUA: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
local ms = math.floor(math.min(tonumber(ARGV[1]) * 2 ^ (n - 1), tonumber(ARGV[2])))
redis.call('SET', KEYS[1], '1', 'PX', ms)
return ms
"""
GLOBAL_KEY: Final = "campaign:rate:global"
DOMAIN_KEY: Final = "campaign:rate:domain:"

# KEYS[1] the global bucket, KEYS[2..] domain buckets. ARGV: global rate, domain rate, burst
# seconds, then per message the index of its domain's key. Returns one 0/1 per message, then
# a wait hint in milliseconds (0 when something was granted).
_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local grate = tonumber(ARGV[1])
local drate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tokens = {}
local rates = {}
for i = 1, #KEYS do
  local rate = drate
  if i == 1 then rate = grate end
  rates[i] = rate
  local cap = math.max(rate * burst, 1)
  local v = redis.call('HMGET', KEYS[i], 't', 'ts')
  local tok = tonumber(v[1])
  local ts = tonumber(v[2])
  if tok == nil or ts == nil then tok = cap; ts = now end
  tokens[i] = math.min(cap, tok + math.max(0, now - ts) * rate)
end
local out = {}
local granted = 0
for j = 4, #ARGV do
  local d = tonumber(ARGV[j])
  if tokens[1] >= 1 and tokens[d] >= 1 then
    tokens[1] = tokens[1] - 1
    tokens[d] = tokens[d] - 1
    out[#out + 1] = 1
    granted = granted + 1
  else
    out[#out + 1] = 0
  end
end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3]) * 1000 + 60000)
end
local wait = 0
if granted == 0 then
  if tokens[1] < 1 then
    wait = (1 - tokens[1]) / rates[1]
  else
    wait = 3600
    for i = 2, #KEYS do
      wait = math.min(wait, (1 - tokens[i]) / rates[i])
    end
  end
  wait = math.ceil(wait * 1000)
end
out[#out + 1] = wait
return out
"""


@dataclass(frozen=True)
class Grant:
    """``allowed[i]`` says whether the i-th message asked for may go now; ``wait`` is how long
    to wait before asking again when none may."""

    allowed: tuple[bool, ...]
    wait: float

    @property
    def count(self) -> int:
        return sum(self.allowed)


class SendLimiter(Protocol):
    def acquire(self, domains: Sequence[str]) -> Grant: ...

    def pause_relay(self, seconds: float) -> float:
        """Pause every worker's sending to the relay: ``seconds`` the first time, twice as
        long at each further episode (at most RELAY_PAUSE_MAX). Returns the pause started,
        or 0 when one was already under way (so each episode is logged once)."""
        ...

    def relay_recovered(self) -> None:
        """The relay accepted mail again: the next episode starts from the base pause."""
        ...

    def relay_paused_for(self) -> float: ...


def _rate(value: float) -> float:
    return UNLIMITED if value <= 0 else float(value)


def domain_rate(config: Config) -> float:
    """Per recipient domain: ``SEND_RATE_PER_DOMAIN`` when set, else half the global rate
    (so no single provider sees the whole stream at full speed)."""
    if config.send_rate_per_domain is not None:
        return _rate(config.send_rate_per_domain)
    return _rate(config.send_rate / 2 if config.send_rate > 0 else 0)


class MemoryLimiter:
    """The same buckets in this process (no Redis: one process sends)."""

    def __init__(self, rate: float, per_domain: float, clock: Any = time.monotonic) -> None:
        self.rate = _rate(rate)
        self.per_domain = _rate(per_domain)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._paused_until = 0.0
        self._episodes, self._last_episode = 0, 0.0

    def _fill(self, key: str, rate: float, now: float) -> float:
        cap = max(rate * BURST_SECONDS, 1.0)
        tokens, stamp = self._buckets.get(key, (cap, now))
        return min(cap, tokens + max(0.0, now - stamp) * rate)

    def acquire(self, domains: Sequence[str]) -> Grant:
        with self._lock:
            now = self._clock()
            keys = sorted(set(domains))
            tokens = {"": self._fill("", self.rate, now)}
            for key in keys:
                tokens[key] = self._fill(key, self.per_domain, now)
            allowed: list[bool] = []
            for domain in domains:
                ok = tokens[""] >= 1 and tokens[domain] >= 1
                if ok:
                    tokens[""] -= 1
                    tokens[domain] -= 1
                allowed.append(ok)
            for key, value in tokens.items():
                self._buckets[key] = (value, now)
            if len(self._buckets) > 10_000:  # forget idle domains
                self._buckets = {k: self._buckets[k] for k in ("", *keys)}
            wait = 0.0
            if not any(allowed) and domains:
                if tokens[""] < 1:
                    wait = (1 - tokens[""]) / self.rate
                else:
                    wait = min((1 - tokens[k]) / self.per_domain for k in keys)
            return Grant(tuple(allowed), wait)

    def pause_relay(self, seconds: float) -> float:
        with self._lock:
            now = self._clock()
            if self._paused_until > now:
                return 0.0
            if now - self._last_episode > RELAY_MEMORY:
                self._episodes = 0
            self._episodes += 1
            self._last_episode = now
            pause = min(seconds * 2 ** (self._episodes - 1), RELAY_PAUSE_MAX)
            self._paused_until = now + pause
            return pause

    def relay_recovered(self) -> None:
        with self._lock:
            self._episodes = 0

    def relay_paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


class RedisLimiter:
    """Buckets in Redis, shared by all workers. If Redis cannot be reached, the batch goes on
    under an in-process bucket at the same rates (logged once per process)."""

    def __init__(self, connection: Any, rate: float, per_domain: float) -> None:
        self._redis = connection
        self.rate = _rate(rate)
        self.per_domain = _rate(per_domain)
        self._script = connection.register_script(_LUA)
        self._relay_script = connection.register_script(_RELAY_LUA)
        self._fallback = MemoryLimiter(rate, per_domain)
        self._warned = False

    def _unreachable(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("rate limit: Redis unreachable (%s); using an in-process bucket",
                        exc.__class__.__name__)
            self._warned = True

    def acquire(self, domains: Sequence[str]) -> Grant:
        from redis.exceptions import RedisError

        if not domains:
            return Grant((), 0.0)
        keys = [GLOBAL_KEY]
        index: dict[str, int] = {}
        for domain in domains:
            if domain not in index:
                keys.append(DOMAIN_KEY + domain)
                index[domain] = len(keys)
        args: list[Any] = [repr(self.rate), repr(self.per_domain), repr(BURST_SECONDS)]
        args += [index[d] for d in domains]
        try:
            reply = self._script(keys=keys, args=args)
        except RedisError as exc:
            self._unreachable(exc)
            return self._fallback.acquire(domains)
        allowed = tuple(bool(int(v)) for v in reply[:-1])
        return Grant(allowed, int(reply[-1]) / 1000.0)

    def pause_relay(self, seconds: float) -> float:
        from redis.exceptions import RedisError

        try:
            started = self._relay_script(
                keys=[RELAY_KEY, RELAY_EPISODES_KEY],
                args=[max(1, int(seconds * 1000)), int(RELAY_PAUSE_MAX * 1000), RELAY_MEMORY])
        except RedisError as exc:
            self._unreachable(exc)
            return self._fallback.pause_relay(seconds)
        return int(started) / 1000.0

    def relay_recovered(self) -> None:
        from redis.exceptions import RedisError

        self._fallback.relay_recovered()
        try:
            self._redis.delete(RELAY_EPISODES_KEY)
        except RedisError as exc:
            self._unreachable(exc)

    def relay_paused_for(self) -> float:
        from redis.exceptions import RedisError

        try:
            ttl = int(self._redis.pttl(RELAY_KEY))
        except RedisError as exc:
            self._unreachable(exc)
            return self._fallback.relay_paused_for()
        return ttl / 1000.0 if ttl > 0 else 0.0


def domain_key(address: str) -> str:
    """What a bucket is keyed by: a keyed hash of the recipient's domain (lower case)."""
    domain = address.rpartition("@")[2].lower()
    return blind_index().digest(domain, purpose="rate-domain").hex()[:20]


def limiter() -> SendLimiter:
    """This app's limiter, made on first use (never in the factory)."""
    existing: SendLimiter | None = current_app.extensions.get("campaign.alerts.limiter")
    if existing is not None:
        return existing
    config: Config = current_app.extensions["campaign.config"]
    made: SendLimiter
    if config.redis_url:
        from redis import Redis

        connection = Redis.from_url(config.redis_url, socket_connect_timeout=2, socket_timeout=5)
        made = RedisLimiter(connection, config.send_rate, domain_rate(config))
    else:
        made = MemoryLimiter(config.send_rate, domain_rate(config))
    current_app.extensions["campaign.alerts.limiter"] = made
    return made


def wait_time(grant: Grant, cap: float = 1.0) -> float:
    """How long to sleep before asking again: the hint, at least 5 ms, at most ``cap``."""
    return min(cap, max(0.005, grant.wait if math.isfinite(grant.wait) else cap))
