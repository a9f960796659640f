"""``/invite``: coordinators create invite links from their phone."""

from __future__ import annotations

from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.accounts.directory import UserView
from bot.accounts.invites import deep_link
from bot.domain import ROLE_LABELS, Role
from bot.handlers import callbacks, keyboards
from bot.handlers.context import Ctx, alert, speaker
from bot.i18n import N_, Translator

#: Whom a coordinator may invite from the bot (administrators only come from the CLI).
INVITABLE = (Role.HEALTH_WORKER, Role.SPECIALIST, Role.COORDINATOR)
NO_FACILITY = 0
ONLY_COORDINATORS = N_("Only coordinators can create invites.")


async def invite(update: Update, ctx: Ctx) -> None:
    tr, user = await speaker(update, ctx)
    message = update.effective_message
    if message is None:
        return
    if user is None or not user.can_approve:
        await message.reply_text(tr._(ONLY_COORDINATORS))
        return
    await message.reply_text(
        tr._("Whom do you want to invite?"), reply_markup=keyboards.invite_roles(tr, INVITABLE)
    )


async def invite_role(update: Update, ctx: Ctx) -> None:
    """A role was chosen: health workers are bound to a facility of the district first."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "inv", 1)
    roles = {role.value: role for role in INVITABLE}
    if parsed is None or parsed.args[0] not in roles:
        await alert(update, tr)
        return
    if user is None or not user.can_approve:
        await alert(update, tr, ONLY_COORDINATORS)
        return
    role = roles[parsed.args[0]]
    facilities = await ctx.services.facilities.in_district(user.district)
    await query.answer()
    if role is Role.HEALTH_WORKER and facilities:
        rows = [
            [InlineKeyboardButton(f.name, callback_data=callbacks.make("invf", f.id))]
            for f in facilities[:30]
        ]
        rows.append(
            [
                InlineKeyboardButton(
                    tr._("Another facility (they will name it)"),
                    callback_data=callbacks.make("invf", NO_FACILITY),
                )
            ]
        )
        await query.edit_message_text(
            tr._("Which facility does the health worker belong to?"),
            reply_markup=InlineKeyboardMarkup(rows),
        )
        return
    await query.edit_message_text(await _create(ctx, tr, user, role, None))


async def invite_facility(update: Update, ctx: Ctx) -> None:
    """The facility for a health worker's invite was chosen."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "invf", 1)
    facility_id = callbacks.int_arg(parsed) if parsed else None
    if facility_id is None:
        await alert(update, tr)
        return
    if user is None or not user.can_approve:
        await alert(update, tr, ONLY_COORDINATORS)
        return
    facility = await ctx.services.facilities.get(facility_id) if facility_id else None
    if facility_id and (facility is None or facility.district != user.district):
        await alert(update, tr)
        return
    await query.answer()
    await query.edit_message_text(
        await _create(ctx, tr, user, Role.HEALTH_WORKER, facility_id or None)
    )


async def _create(
    ctx: Ctx, tr: Translator, user: UserView, role: Role, facility_id: int | None
) -> str:
    settings = ctx.services.settings
    created = await ctx.services.invites.create(
        role,
        district=user.district,
        facility_id=facility_id,
        ttl=timedelta(hours=settings.invite_default_ttl_hours),
        created_by=user.id,
        actor_telegram_id=user.telegram_id,
    )
    days = max(1, settings.invite_default_ttl_hours // 24)
    where = f"\n{created.facility_name}" if created.facility_name else ""
    return (
        tr.ngettext(
            "Invite for: {role}. Valid for {n} day. Send this link to the person:",
            "Invite for: {role}. Valid for {n} days. Send this link to the person:",
            days,
            role=tr._(ROLE_LABELS[role]),
        )
        + where
        + "\n\n"
        + deep_link(settings.bot_username, created.code)
    )
