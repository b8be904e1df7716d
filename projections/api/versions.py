"""If-Match that holds across the projector's lag: the tag of the last camera command each camera accepted.

The read model shows a command's configuration only once Kafka and the projector have applied it (usually well
under a second, longer when the projector lags). Comparing If-Match with the read model alone would let two editors
holding the same ETag both pass inside that window. So every accepted PUT/PATCH/POST also records its new ETag in
Redis (`its:cfgtag:{camera}`, kept ITS_API_COMMAND_TAG_TTL_S), and a precondition is checked and the new tag set
in one atomic step (a script) against that record, or the read model's tag when no command is pending: of two
editors sending the same tag, exactly one wins, the other gets 412. A command Kafka did not take releases its tag.
"""

from __future__ import annotations

import logging

import redis

from projections.api.deps import Deps

__all__ = ["claim", "forget", "release"]

log = logging.getLogger(__name__)

# KEYS[1] its:cfgtag:{cam}; ARGV[1] the new tag, ARGV[2] ttl s, ARGV[3] the read model's tag ("" none),
# ARGV[4] "1" when If-Match was sent, ARGV[5..] its tags. Returns "" when claimed, else the current tag.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if not cur then cur = ARGV[3] end
if ARGV[4] == '1' then
  local ok = false
  for i = 5, #ARGV do
    if (ARGV[i] == '*' and cur ~= '') or (cur ~= '' and ARGV[i] == cur) then ok = true end
  end
  if not ok then return cur end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ''
"""

# release only our own tag (a newer command may have replaced it meanwhile)
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _key(cam: str) -> str:
    return f"its:cfgtag:{cam}"


async def claim(d: Deps, cam: str, new_tag: str, read_model_tag: str | None, if_match: set[str] | None) -> str | None:
    """Claim `new_tag` as camera `cam`'s latest version: None when claimed, else the current tag (a 412). With
    `if_match` None (no header) it is always claimed. Redis unreachable: the read model's tag decides alone."""
    args = [new_tag, str(d.settings.command_tag_ttl_s), read_model_tag or "", "1" if if_match is not None else "0"]
    try:
        got = await d.redis.eval(_CLAIM, 1, _key(cam), *args, *sorted(if_match or ()))
    except redis.RedisError as e:
        log.warning("If-Match checked against the read model only: Redis failed (%s)", type(e).__name__)
        if if_match is None or (read_model_tag is not None and ("*" in if_match or read_model_tag in if_match)):
            return None
        return read_model_tag or ""
    text = got.decode() if isinstance(got, bytes) else str(got)
    return None if text == "" else text


async def release(d: Deps, cam: str, tag: str) -> None:
    """Give back a claimed tag whose command was not accepted (Kafka did not acknowledge it, a later check)."""
    try:
        await d.redis.eval(_RELEASE, 1, _key(cam), tag)
    except redis.RedisError as e:
        log.warning("could not release a camera command tag (%s); it expires by itself", type(e).__name__)


async def forget(d: Deps, cam: str) -> None:
    """A deleted camera has no pending version."""
    try:
        await d.redis.delete(_key(cam))
    except redis.RedisError as e:
        log.warning("could not forget a camera command tag (%s); it expires by itself", type(e).__name__)
