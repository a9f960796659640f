"""The handler context: services from the composition root and the speaker's language."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.accounts.directory import UserView
from bot.i18n import N_, Translator
from bot.services import Services

SERVICES_KEY = "services"
STALE = N_("This button is no longer valid.")


class Ctx(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """``CallbackContext`` that knows Sampark's services."""

    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data[SERVICES_KEY]
        return services


def attach(application: Application[Any, Any, Any, Any, Any, Any], services: Services) -> None:
    application.bot_data[SERVICES_KEY] = services


async def speaker(update: Update, ctx: Ctx) -> tuple[Translator, UserView | None]:
    """Who sent ``update`` (if registered) and the translator for their language."""
    tg_user = update.effective_user
    if tg_user is None:
        return ctx.services.catalogs.get(None), None
    services = ctx.services
    user = await services.directory.by_telegram(tg_user.id)
    language = user.language if user else await services.directory.language_of(tg_user.id)
    if language is None and tg_user.language_code:
        code = tg_user.language_code.split("-")[0]
        language = code if code in services.catalogs.available else None
    return services.catalogs.get(language or services.settings.default_language), user


async def translator_for(ctx: Ctx, telegram_id: int) -> Translator:
    """The translator for someone other than the sender."""
    services = ctx.services
    language = await services.directory.language_of(telegram_id)
    return services.catalogs.get(language or services.settings.default_language)


async def alert(update: Update, tr: Translator, message: str = STALE) -> None:
    """Answer a tap with a pop-up: a stale, forged or refused button changes nothing."""
    if update.callback_query is not None:
        await update.callback_query.answer(tr._(message), show_alert=True)
