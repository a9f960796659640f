"""``/cases``: the district's open cases for coordinators, paged; a tap shows a case's card
and history, with "Assign to …" while it waits for a specialist (the escalation's ``asg``
buttons, settled by ``OfferService.assign``)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.cases.case_list import CaseEvent, CaseHistory
from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.views import CaseView
from bot.handlers import callbacks
from bot.handlers.cancel_texts import reason_label
from bot.handlers.context import Ctx, alert, speaker
from bot.handlers.notifier import case_card, specialty_label, urgency_label, waiting
from bot.handlers.offers import DECLINE_LABELS
from bot.handlers.stats import STATE_LABELS
from bot.i18n import N_, Translator

INDIA = ZoneInfo("Asia/Kolkata")
KIND = "cl"
PAGE_SIZE = 8
MAX_ASSIGN_BUTTONS = 20

ONLY_COORDINATORS = N_("Only coordinators can see the district's cases.")
STATES: dict[str, str] = {
    **STATE_LABELS,
    "reported": N_("report sent, not acknowledged"),
}
EVENTS: dict[str, str] = {
    "case.submit": N_("submitted"),
    "case.offer": N_("offered to {name}"),
    "case.offer_expired": N_("{name} did not answer in time"),
    "case.accept": N_("{name} accepted"),
    "case.assign": N_("assigned to {name}"),
    "case.reported": N_("report signed"),
    "report.acknowledge": N_("report acknowledged"),
}
CANCELLED = N_("cancelled by the health worker")
ESCALATIONS: dict[str, str] = {
    "no_accept": N_("escalated: nobody accepted in time"),
    "nobody_on_call": N_("escalated: nobody on call"),
}


async def cases(update: Update, ctx: Ctx) -> None:
    """``/cases``: the first page of the district's open cases."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    listed = await ctx.services.case_list.open_cases(tg_user.id)
    if isinstance(listed, Refusal):
        await message.reply_text(tr._(ONLY_COORDINATORS))
        return
    text, markup = page(tr, listed, 0, ctx.services.clock.now())
    await message.reply_text(text, reply_markup=markup, protect_content=True)


async def tapped(update: Update, ctx: Ctx) -> None:
    """``cl:p:<page>`` turns the page; ``cl:c:<case>`` shows a case and its history."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, KIND, 2)
    number = callbacks.int_arg(parsed, 1) if parsed else None
    if parsed is None or number is None or parsed.args[0] not in ("p", "c"):
        await alert(update, tr)
        return
    services = ctx.services
    if parsed.args[0] == "p":
        listed = await services.case_list.open_cases(tg_user.id)
        if isinstance(listed, Refusal):
            await alert(update, tr, ONLY_COORDINATORS)
            return
        await query.answer()
        text, markup = page(tr, listed, number, services.clock.now())
        with contextlib.suppress(BadRequest):  # the same page again: nothing changed
            await query.edit_message_text(text, reply_markup=markup)
        return
    found = await services.case_list.history(tg_user.id, number)
    if isinstance(found, Refusal):
        if found.reason is RefusalReason.UNKNOWN_CASE:
            await alert(update, tr)  # a forged or stale button
        else:
            await alert(update, tr, ONLY_COORDINATORS)
        return
    await query.answer()
    markup = await assign_buttons(ctx, tr, found)
    if update.effective_chat is not None:
        await ctx.bot.send_message(
            update.effective_chat.id,
            history_text(tr, found, services.clock.now()),
            reply_markup=markup,
            protect_content=True,
        )


def page(
    tr: Translator, listed: list[CaseView], number: int, now: datetime
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the list (a stale page number shows the last page) with its buttons."""
    if not listed:
        return tr._("No open cases in your district."), None
    pages = (len(listed) + PAGE_SIZE - 1) // PAGE_SIZE
    number = min(max(number, 0), pages - 1)
    shown = listed[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]
    lines = [tr._("Open cases: {n}", n=len(listed))]
    lines += [line(tr, case, now) for case in shown]
    rows = [
        [
            InlineKeyboardButton(
                _mark(case) + case.code, callback_data=callbacks.make(KIND, "c", case.id)
            )
        ]
        for case in shown
    ]
    navigation = []
    if number > 0:
        navigation.append(
            InlineKeyboardButton("◀️", callback_data=callbacks.make(KIND, "p", number - 1))
        )
    if pages > 1:
        navigation.append(
            InlineKeyboardButton(
                f"{number + 1}/{pages}", callback_data=callbacks.make(KIND, "p", number)
            )
        )
    if number + 1 < pages:
        navigation.append(
            InlineKeyboardButton("▶️", callback_data=callbacks.make(KIND, "p", number + 1))
        )
    if navigation:
        rows.append(navigation)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def line(tr: Translator, case: CaseView, now: datetime) -> str:
    """``• CODE · specialty · urgency · waiting 2 hours · state``."""
    text = tr._(
        "{code} · {specialty} · {urgency} · waiting {waiting}",
        code=case.code,
        specialty=specialty_label(tr, case),
        urgency=urgency_label(tr, case),
        waiting=waiting(tr, case, now),
    )
    return f"• {text} · {state_label(tr, case)}"


def state_label(tr: Translator, case: CaseView) -> str:
    label = STATES.get(case.status.value)
    return tr._(label) if label else case.status.value


def history_text(tr: Translator, found: CaseHistory, now: datetime) -> str:
    """The case card (no identifiers, no study line), its state, and what happened."""
    card = case_card(tr, found.case, now).splitlines()[:-1]  # drop the study-link line
    lines = [*card, tr._("Status: {value}", value=state_label(tr, found.case)), ""]
    lines.append(tr._("History:"))
    lines += [event_line(tr, event) for event in found.events]
    return "\n".join(lines)


def event_line(tr: Translator, event: CaseEvent) -> str:
    when = format_datetime(event.at, "short", tzinfo=INDIA, locale=tr.locale)
    return f"{when} · {event_text(tr, event)}"


def event_text(tr: Translator, event: CaseEvent) -> str:
    name = event.name or "—"
    if event.action == "case.decline":
        reason = DECLINE_LABELS.get(event.detail or "", DECLINE_LABELS["other"])
        return tr._("{name} declined: {reason}", name=name, reason=tr._(reason))
    if event.action == "case.escalate":
        return tr._(ESCALATIONS.get(event.detail or "", ESCALATIONS["no_accept"]))
    if event.action == "case.cancel":
        return f"{tr._(CANCELLED)}: {reason_label(tr, event.detail)}"
    label = EVENTS.get(event.action)
    return tr._(label, name=name) if label else event.action


async def assign_buttons(
    ctx: Ctx, tr: Translator, found: CaseHistory
) -> InlineKeyboardMarkup | None:
    """The escalation's "Assign to …" buttons while the case waits for a specialist."""
    if not found.assignable:
        return None
    specialists = await ctx.services.directory.specialists_for(found.case.specialty)
    rows = [
        [
            InlineKeyboardButton(
                tr._("Assign to {name}", name=s.full_name),
                callback_data=callbacks.make("asg", found.case.id, s.id),
            )
        ]
        for s in specialists[:MAX_ASSIGN_BUTTONS]
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def _mark(case: CaseView) -> str:
    return {"emergency": "🔴 ", "urgent": "🟠 "}.get(case.urgency.value if case.urgency else "", "")
