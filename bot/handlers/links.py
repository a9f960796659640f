"""``/links CODE``: a coordinator sees who holds a live link to a case's study, and revokes.

Coordinators manage the links of their district's cases, administrators every case's
(the same check as ``sampark links revoke`` has from the command line). Each live link
has a button; a tap re-checks on the server, revokes, and redraws the list.
"""

from __future__ import annotations

from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.handlers import callbacks
from bot.handlers.context import Ctx, alert, speaker
from bot.i18n import N_, Translator
from bot.security.capability_links import LinkView

KIND = "lrv"
USAGE = N_("Write the case code after the command, e.g. /links ABC-123.")
NOT_YOURS = N_("No such case in your district.")
NONE_LIVE = N_("Case {code}: no live study links.")
HEADER = N_("Case {code}: live study links")
LINE = N_("• {name} · until {time} UTC")
REVOKE = N_("Revoke: {name}")
REVOKED = N_("Link revoked.")


def _when(moment: datetime) -> str:
    return moment.strftime("%d %b %H:%M")


def listing(
    tr: Translator, code: str, links: list[LinkView]
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and one revoke button per live link."""
    live = [link for link in links if link.state == "active"]
    if not live:
        return tr._(NONE_LIVE, code=code), None
    lines = [tr._(HEADER, code=code)]
    lines += [tr._(LINE, name=link.recipient_name, time=_when(link.expires_at)) for link in live]
    buttons = [
        [
            InlineKeyboardButton(
                tr._(REVOKE, name=link.recipient_name)[:60],
                callback_data=callbacks.make(KIND, link.id),
            )
        ]
        for link in live[:20]
    ]
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


async def links(update: Update, ctx: Ctx) -> None:
    """``/links CODE``."""
    tr, _ = await speaker(update, ctx)
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    if not ctx.args:
        await message.reply_text(tr._(USAGE))
        return
    code = ctx.args[0].strip().upper()[:20]
    service = ctx.services.links
    case_id = await service.managed_case(tg_user.id, code)
    if case_id is None:
        await message.reply_text(tr._(NOT_YOURS))
        return
    text, markup = listing(tr, code, await service.links_for_case(case_id))
    await message.reply_text(text, reply_markup=markup)


async def revoke(update: Update, ctx: Ctx) -> None:
    """``lrv:<link id>``: revoke, then redraw the list."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, KIND, 1)
    link_id = callbacks.int_arg(parsed) if parsed else None
    service = ctx.services.links
    revoked = await service.revoke_as_manager(tg_user.id, link_id) if link_id else None
    if revoked is None:
        await alert(update, tr)
        return
    await query.answer(tr._(REVOKED))
    case_code = await service.case_code(revoked.case_id) or "—"
    text, markup = listing(tr, case_code, await service.links_for_case(revoked.case_id))
    await query.edit_message_text(text, reply_markup=markup)
