"""Seeded ids and timestamps for the simulator's hot path.

`uuid.UUID(int=..., version=4)` and `datetime.isoformat` cost microseconds each; at a million events that is
most of the budget, so these build the same strings directly from the seeded RNG.
"""

from __future__ import annotations

import time
import uuid
from random import Random

# UUID v4: version nibble 4 and RFC 4122 variant bits, as uuid.UUID(int=n, version=4) sets them.
_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def uuid4_str(rng: Random) -> str:
    """A canonical UUID v4 string drawn from `rng`; equal to `str(uuid.UUID(int=bits, version=4))`."""
    h = f"{(rng.getrandbits(128) & _V4_CLEAR) | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid4(rng: Random) -> uuid.UUID:
    """A `uuid.UUID` (version 4) drawn from `rng`, for APIs that want the object."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _alnum(rng: Random, n: int) -> str:
    bits = rng.getrandbits(6 * n)
    out = []
    for _ in range(n):
        out.append(_ALNUM[(bits & 63) % 62])
        bits >>= 6
    return "".join(out)


def tool_call_id(rng: Random, style: str) -> str:
    """A provider-shaped tool call id: Anthropic `toolu_01...`, else OpenAI-style `call_...`."""
    if style == "anthropic":
        return "toolu_01" + _alnum(rng, 22)
    return "call_" + _alnum(rng, 24)


_SECONDS: dict[int, str] = {}


def iso_ms(ts_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, as JavaScript's `Date.toISOString()` prints it."""
    sec, ms = divmod(ts_ms, 1000)
    prefix = _SECONDS.get(sec)
    if prefix is None:
        # Events of a trace share seconds; a small cache avoids most strftime calls.
        if len(_SECONDS) > 100_000:
            _SECONDS.clear()
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _SECONDS[sec] = prefix
    return f"{prefix}.{ms:03d}Z"


def between(rng: Random, lo: int, hi: int) -> int:
    """A uniform int in `[lo, hi]`: one `random()` call, several times cheaper than `Random.randint`."""
    return lo + int(rng.random() * (hi - lo + 1))
