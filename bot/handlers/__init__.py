"""Telegram handlers: thin — parse the update, call a service, render the reply."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.handlers import (
    approvals,
    broadcasts,
    cancel,
    case_list,
    drafts,
    files,
    general,
    invites,
    links,
    offers,
    onboarding,
    questions,
    reports,
    rosters,
    stats,
    uploads,
)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add every handler in the order Telegram updates should meet them."""
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, general.guard), group=-1)
    application.add_handlers(
        [
            *rosters.handlers(),
            *broadcasts.handlers(),
            *uploads.handlers(),
            CommandHandler("start", onboarding.start, filters=private),
            CommandHandler("help", general.help_command, filters=private),
            CommandHandler("whoami", general.whoami, filters=private),
            CommandHandler("language", general.language, filters=private),
            CommandHandler("invite", invites.invite, filters=private),
            CommandHandler("new", drafts.new, filters=private),
            CommandHandler("cancel", drafts.cancel, filters=private),
            CommandHandler("mycases", cancel.mycases, filters=private),
            CommandHandler("stats", stats.stats, filters=private),
            CommandHandler("links", links.links, filters=private),
            CommandHandler("cases", case_list.cases, filters=private),
            CallbackQueryHandler(onboarding.choose_language, pattern=r"^lang:"),
            CallbackQueryHandler(onboarding.specialty, pattern=r"^spec:"),
            CallbackQueryHandler(approvals.decide, pattern=r"^apv:"),
            CallbackQueryHandler(invites.invite_role, pattern=r"^inv:"),
            CallbackQueryHandler(invites.invite_facility, pattern=r"^invf:"),
            CallbackQueryHandler(drafts.choose, pattern=r"^d:"),
            CallbackQueryHandler(drafts.continue_or_restart, pattern=r"^dn:"),
            CallbackQueryHandler(drafts.discard, pattern=r"^dc:"),
            CallbackQueryHandler(offers.offer, pattern=r"^of:"),
            CallbackQueryHandler(offers.decline, pattern=r"^dr:"),
            CallbackQueryHandler(offers.assign, pattern=r"^asg:"),
            CallbackQueryHandler(reports.begin, pattern=r"^rep:"),
            CallbackQueryHandler(reports.action, pattern=r"^rp:"),
            CallbackQueryHandler(reports.acknowledge, pattern=r"^ack:"),
            CallbackQueryHandler(questions.compose, pattern=r"^(ask|ans):"),
            CallbackQueryHandler(stats.switch, pattern=r"^st:"),
            CallbackQueryHandler(stats.export, pattern=r"^stc:"),
            CallbackQueryHandler(links.revoke, pattern=r"^lrv:"),
            CallbackQueryHandler(case_list.tapped, pattern=r"^cl:"),
            CallbackQueryHandler(cancel.tapped, pattern=r"^cx:"),
            CallbackQueryHandler(onboarding.stale_button),
            MessageHandler(private & filters.COMMAND, general.unknown_command),
            MessageHandler(private & filters.TEXT, general.text),
            MessageHandler(
                private & (filters.Document.ALL | filters.PHOTO | filters.VOICE),
                files.incoming,
                block=False,
            ),
            MessageHandler(private, general.other_message),
        ]
    )
    application.add_error_handler(general.error)
