"""Command menus: one per language for visitors, one per person for their role."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from bot.accounts.directory import UserView
from bot.domain import APPROVERS, Role
from bot.i18n import N_, SOURCE_LANGUAGE, Catalogs, Translator

log = logging.getLogger(__name__)

DESCRIPTIONS: dict[str, str] = {
    "start": N_("Start, or open an invite"),
    "help": N_("What I can do for you"),
    "language": N_("Change the language"),
    "whoami": N_("Your registration details"),
    "invite": N_("Invite a new user"),
    "new": N_("Send a new case"),
    "cancel": N_("Discard the unfinished case"),
    "upload": N_("Send a large study through a link"),
    "mycases": N_("Your open cases"),
    "oncall": N_("Who is on call now"),
    "roster": N_("This week's on-call roster"),
    "roster_csv": N_("The roster as a spreadsheet (CSV)"),
    "stats": N_("Statistics of your district"),
    "cases": N_("Open cases of your district"),
    "broadcast": N_("Send a message or an alert to many people"),
}

VISITOR = ("start", "language", "help")
MEMBER = ("help", "oncall", "whoami", "language")


def commands_for(tr: Translator, role: Role | None) -> list[BotCommand]:
    names = list(VISITOR if role is None else MEMBER)
    if role in APPROVERS:
        names[:0] = ["cases", "invite", "broadcast", "roster", "roster_csv", "stats"]
    if role is Role.HEALTH_WORKER:
        names[:0] = ["new", "mycases", "upload", "cancel"]
    if role is Role.SPECIALIST:
        names.insert(0, "mycases")
    return [BotCommand(name, tr._(DESCRIPTIONS[name])) for name in names]


async def set_defaults(bot: Bot, catalogs: Catalogs) -> None:
    """The visitor menu in every language (Telegram picks it by the app's language)."""
    for code in catalogs.available:
        language_code = None if code == SOURCE_LANGUAGE else code
        await bot.set_my_commands(
            commands_for(catalogs.get(code), None),
            scope=BotCommandScopeDefault(),
            language_code=language_code,
        )


async def set_for_user(bot: Bot, tr: Translator, user: UserView) -> None:
    """This person's menu: their role's commands in their language."""
    role = user.role if user.is_active else None
    try:
        await bot.set_my_commands(
            commands_for(tr, role), scope=BotCommandScopeChat(user.telegram_id)
        )
    except TelegramError:
        log.warning("could not set the command menu", extra={"user_id": user.id})
