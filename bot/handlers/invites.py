"""``/invite``: coordinators create invite links from their phone."""

from __future__ import annotations

from datetime import timedelta

from telegram import Update

from bot.accounts.invites import deep_link
from bot.domain import ROLE_LABELS, Role
from bot.handlers import callbacks, keyboards
from bot.handlers.context import Ctx, speaker

#: Whom a coordinator may invite from the bot (administrators only come from the CLI).
INVITABLE = (Role.HEALTH_WORKER, Role.SPECIALIST, Role.COORDINATOR)


async def invite(update: Update, ctx: Ctx) -> None:
    tr, user = await speaker(update, ctx)
    message = update.effective_message
    if message is None:
        return
    if user is None or not user.can_approve:
        await message.reply_text(tr._("Only coordinators can create invites."))
        return
    await message.reply_text(
        tr._("Whom do you want to invite?"), reply_markup=keyboards.invite_roles(tr, INVITABLE)
    )


async def invite_role(update: Update, ctx: Ctx) -> None:
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "inv", 1)
    roles = {role.value: role for role in INVITABLE}
    if parsed is None or parsed.args[0] not in roles:
        await query.answer(tr._("This button is no longer valid."), show_alert=True)
        return
    if user is None or not user.can_approve:
        await query.answer(tr._("Only coordinators can create invites."), show_alert=True)
        return
    role = roles[parsed.args[0]]
    settings = ctx.services.settings
    days = max(1, settings.invite_default_ttl_hours // 24)
    created = await ctx.services.invites.create(
        role,
        district=user.district,
        ttl=timedelta(hours=settings.invite_default_ttl_hours),
        created_by=user.id,
        actor_telegram_id=user.telegram_id,
    )
    await query.answer()
    await query.edit_message_text(
        tr.ngettext(
            "Invite for one {role}, valid for {n} day. Send this link to the person:",
            "Invite for one {role}, valid for {n} days. Send this link to the person:",
            days,
            role=tr._(ROLE_LABELS[role]),
        )
        + "\n\n"
        + deep_link(settings.bot_username, created.code)
    )
