"""Glue for running an unmodified PTB ``Application`` against the emulator (tests, demo).

::

    async with BotApiEmulator() as emulator:
        app = application_builder(emulator).build()
        app.add_handler(CommandHandler("start", start))
        async with polling(app), SandboxClient(emulator.control_url) as sandbox:
            ...
"""

from __future__ import annotations

import datetime as dtm
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram.ext import Application, ApplicationBuilder

from bot.sandbox.emulator import SANDBOX_TOKEN, BotApiEmulator


def application_builder(
    emulator: BotApiEmulator, token: str = SANDBOX_TOKEN
) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """An ``ApplicationBuilder`` already pointed at the emulator (add your own options)."""
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
    )


@asynccontextmanager
async def polling(
    app: Application[Any, Any, Any, Any, Any, Any], poll_timeout: float = 1.0
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Initialize, start and poll ``app``; stop it cleanly on exit.

    A short ``poll_timeout`` keeps shutdown fast; the emulator answers a long poll as soon
    as an update arrives, so it does not slow anything down.
    """
    async with app:
        await app.start()
        assert app.updater is not None, "build the Application with an Updater"
        await app.updater.start_polling(
            poll_interval=0.0, timeout=dtm.timedelta(seconds=poll_timeout)
        )
        try:
            yield app
        finally:
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
