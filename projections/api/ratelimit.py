"""Per-key rate limits: a token bucket in Redis (`its:rl:{key_id}`), one Lua call per request.

The bucket holds `rate_per_minute` tokens and refills continuously at rate/60 per second, so a key may burst up
to a minute's allowance and then sustains its rate. Redis' clock (TIME) is used, so every API worker shares it.

The two hot routes fold their own Redis read into the same script (`hit_live`, `hit_get`): the request then costs
one Redis round trip in all, rather than one for the limit and one for the data.
"""

from __future__ import annotations

import math
from typing import Any

from projections.api.scripts import ScriptRunner

__all__ = ["RateLimiter", "rate_key"]

# KEYS[1] the bucket, ARGV[1] the rate per minute; leaves `allowed` and `wait_ms` set.
_BUCKET = """
local cap = tonumber(ARGV[1])
local per_ms = cap / 60000.0
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
tokens = math.min(cap, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / per_ms) + 1000)
"""
_HIT = _BUCKET + "return {allowed, wait_ms}"
# KEYS[2..4]: its:live:{cam}, its:status:{cam}, its:counts:{cam}
_HIT_LIVE = (
    _BUCKET
    + """
if allowed == 0 then return {allowed, wait_ms} end
return {allowed, wait_ms, redis.call('HGET', KEYS[2], 'json'), redis.call('HGET', KEYS[3], 'json'),
        redis.call('HGETALL', KEYS[4])}
"""
)
# KEYS[2]: a string key
_HIT_GET = (
    _BUCKET
    + """
if allowed == 0 then return {allowed, wait_ms} end
return {allowed, wait_ms, redis.call('GET', KEYS[2])}
"""
)


def rate_key(key_id: str) -> str:
    return f"its:rl:{key_id}"


def _wait_s(allowed: Any, wait_ms: Any) -> int:
    return 0 if allowed else max(1, math.ceil(int(wait_ms) / 1000))


class RateLimiter:
    def __init__(self, scripts: ScriptRunner) -> None:
        self.scripts = scripts
        self._hit = scripts.register(_HIT)
        self._hit_live = scripts.register(_HIT_LIVE)
        self._hit_get = scripts.register(_HIT_GET)

    async def hit(self, key_id: str, rate_per_minute: int) -> tuple[bool, int]:
        """(allowed, seconds to wait before retrying)."""
        allowed, wait_ms = await self.scripts.run(self._hit, [rate_key(key_id)], [max(1, rate_per_minute)])
        return bool(allowed), _wait_s(allowed, wait_ms)

    async def hit_live(
        self, key_id: str, rate_per_minute: int, camera_id: str
    ) -> tuple[bool, int, bytes | None, bytes | None, dict[bytes, bytes]]:
        """The limit and, if allowed, a camera's live frame JSON, status JSON and counters hash."""
        keys = [rate_key(key_id), f"its:live:{camera_id}", f"its:status:{camera_id}", f"its:counts:{camera_id}"]
        res = await self.scripts.run(self._hit_live, keys, [max(1, rate_per_minute)])
        if not res[0]:
            return False, _wait_s(*res[:2]), None, None, {}
        flat = res[4]
        return True, 0, res[2], res[3], dict(zip(flat[::2], flat[1::2], strict=True))

    async def hit_get(self, key_id: str, rate_per_minute: int, key: str) -> tuple[bool, int, bytes | None]:
        """The limit and, if allowed, the value of `key`."""
        res = await self.scripts.run(self._hit_get, [rate_key(key_id), key], [max(1, rate_per_minute)])
        if not res[0]:
            return False, _wait_s(*res[:2]), None
        return True, 0, res[2]
