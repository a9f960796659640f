"""Waiting for something that happens in another task, without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(
    condition: Callable[[], Awaitable[bool]], within: float = 5.0, interval: float = 0.02
) -> bool:
    """True as soon as ``condition()`` is, False if it never is ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await condition():
            return True
        await asyncio.sleep(interval)
    return await condition()
