"""The specialist writes a structured report; the health worker reads and acknowledges it."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from babel.dates import format_time
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.accounts.directory import UserView
from bot.cases.refusals import Refusal, RefusalReason
from bot.cases.reports import FOLLOW_UP_CHOICES, ORDER, Field, ReportDraft, ReportPrompt, ReportView
from bot.domain import REFERRAL_LABELS, Referral
from bot.handlers import callbacks
from bot.handlers.context import Ctx, speaker
from bot.handlers.notifier import text_message
from bot.i18n import N_, Translator

log = logging.getLogger(__name__)
INDIA = ZoneInfo("Asia/Kolkata")

QUESTIONS: dict[Field, str] = {
    Field.FINDINGS: N_("Report for case {code}. Findings?"),
    Field.IMPRESSION: N_("Impression (diagnosis)?"),
    Field.ADVICE: N_("Advice for the health worker?"),
    Field.REFERRAL: N_("Referral?"),
    Field.FOLLOW_UP: N_("Follow-up?"),
    Field.PREVIEW: N_("Check the report, then sign and send it."),
}
LABELS: dict[Field, str] = {
    Field.FINDINGS: N_("Findings"),
    Field.IMPRESSION: N_("Impression"),
    Field.ADVICE: N_("Advice"),
    Field.REFERRAL: N_("Referral"),
    Field.FOLLOW_UP: N_("Follow-up"),
}
REFUSALS: dict[RefusalReason, str] = {
    RefusalReason.UNKNOWN_CASE: N_("This button is no longer valid."),
    RefusalReason.NOT_YOURS: N_("This case is not assigned to you."),
    RefusalReason.NOT_OPEN: N_("This case is closed for that."),
    RefusalReason.ALREADY_REPORTED: N_("This case already has a signed report."),
    RefusalReason.NO_REGISTRATION: N_(
        "Your registration number is missing, so you cannot "
        "sign reports. Please contact your coordinator."
    ),
    RefusalReason.NO_DRAFT: N_("This button is no longer valid."),
    RefusalReason.INCOMPLETE: N_("Please answer every part of the report first."),
    RefusalReason.NOT_REPORTED: N_("There is no report yet."),
    RefusalReason.ALREADY_ACKNOWLEDGED: N_("Already acknowledged."),
    RefusalReason.EMPTY: N_("Please write a few words."),
    RefusalReason.TOO_LONG: N_("That is too long. Please keep it shorter."),
    RefusalReason.UNKNOWN_ATTACHMENT: N_("This button is no longer valid."),
    RefusalReason.ALREADY_RELAYED: N_("This file was already sent."),
}
PROBLEMS = {
    "empty": N_("Please write a few words."),
    "too_long": N_("That is too long. Please keep it shorter."),
    "use_buttons": N_("Please use the buttons below."),
}


def follow_up(tr: Translator, days: int | None) -> str:
    if days is None:
        return tr._("No follow-up needed")
    return tr.ngettext("Follow up in {n} day", "Follow up in {n} days", days)


def render(tr: Translator, report: ReportView | ReportDraft, code: str) -> str:
    """The report with labels in the reader's language; the specialist's text as written."""
    referral = report.referral or Referral.NONE
    lines = []
    if referral is Referral.EMERGENCY:
        lines.append(tr._("🔴 EMERGENCY REFERRAL — act now."))
    lines += [
        tr._("📋 Report for case {code}", code=code),
        "",
        f"{tr._(LABELS[Field.FINDINGS])}: {report.findings or '—'}",
        f"{tr._(LABELS[Field.IMPRESSION])}: {report.impression or '—'}",
        f"{tr._(LABELS[Field.ADVICE])}: {report.advice or '—'}",
        f"{tr._(LABELS[Field.REFERRAL])}: {tr._(REFERRAL_LABELS[referral])}",
        f"{tr._(LABELS[Field.FOLLOW_UP])}: {follow_up(tr, report.follow_up_days)}",
        "",
        "— " + ", ".join(filter(None, [report.signed_name, report.signed_qualification])),
        tr._("Reg. no. {number}", number=report.signed_registration or "—"),
    ]
    if isinstance(report, ReportView):
        signed = report.signed_at.astimezone(INDIA)
        lines.append(f"{tr.date(signed.date())}, {format_time(signed, 'short', locale=tr.locale)}")
    return "\n".join(lines)


def _keyboard(tr: Translator, prompt: ReportPrompt) -> InlineKeyboardMarkup | None:
    def button(text: str, *data: object) -> InlineKeyboardButton:
        return InlineKeyboardButton(text, callback_data=callbacks.make("rp", *data))

    if prompt.step is Field.REFERRAL:
        return InlineKeyboardMarkup(
            [[button(tr._(REFERRAL_LABELS[r]), "set", Field.REFERRAL, r.value)] for r in Referral]
        )
    if prompt.step is Field.FOLLOW_UP:
        return InlineKeyboardMarkup(
            [
                [button(follow_up(tr, days), "set", Field.FOLLOW_UP, key)]
                for key, days in FOLLOW_UP_CHOICES.items()
            ]
        )
    if prompt.step is Field.PREVIEW:
        edits = [button(tr._(LABELS[f]), "edit", f) for f in ORDER]
        return InlineKeyboardMarkup(
            [
                [button(tr._("✍️ Sign and send"), "sign")],
                edits[:3],
                edits[3:],
                [button(tr._("Discard the report"), "discard")],
            ]
        )
    return None


async def _show(update: Update, ctx: Ctx, tr: Translator, prompt: ReportPrompt) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    text = tr._(QUESTIONS[prompt.step], code=prompt.case.code)
    if prompt.step is Field.PREVIEW:
        text = render(tr, prompt.draft, prompt.case.code) + "\n\n" + text
    if prompt.problem:
        text = tr._(PROBLEMS.get(prompt.problem, PROBLEMS["use_buttons"])) + "\n\n" + text
    await ctx.bot.send_message(
        chat.id, text, reply_markup=_keyboard(tr, prompt), protect_content=True
    )


async def _refuse(update: Update, tr: Translator, refusal: Refusal) -> None:
    text = tr._(REFUSALS[refusal.reason])
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(text)


async def begin(update: Update, ctx: Ctx) -> None:
    """``rep:<case>``: "Write report" on the case card or in ``/mycases``."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "rep", 1)
    case_id = callbacks.int_arg(parsed) if parsed else None
    if case_id is None:
        await _refuse(update, tr, Refusal(RefusalReason.UNKNOWN_CASE))
        return
    outcome = await ctx.services.reports.begin(tg_user.id, case_id)
    if isinstance(outcome, Refusal):
        await _refuse(update, tr, outcome)
        return
    await query.answer()
    await _show(update, ctx, tr, outcome)


async def answer(update: Update, ctx: Ctx) -> bool:
    """Typed findings, impression or advice; False when no report is being written."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None or message.text is None:
        return False
    prompt = await ctx.services.reports.answer(tg_user.id, message.text)
    if prompt is None:
        return False
    tr, _ = await speaker(update, ctx)
    await _show(update, ctx, tr, prompt)
    return True


async def action(update: Update, ctx: Ctx) -> None:
    """``rp:set:<field>:<value>``, ``rp:edit:<field>``, ``rp:sign``, ``rp:discard``."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parts = (query.data or "").split(":")[1:]
    reports = ctx.services.reports
    if parts == ["sign"]:
        await _sign(update, ctx, tr)
        return
    if parts == ["discard"]:
        discarded = await reports.discard(tg_user.id)
        if discarded is None:
            await _refuse(update, tr, Refusal(RefusalReason.NO_DRAFT))
            return
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)
        await ctx.bot.send_message(tg_user.id, tr._("The report was discarded."))
        return
    prompt = None
    if len(parts) == 3 and parts[0] == "set":
        prompt = await reports.choose(tg_user.id, parts[1], parts[2])
    elif len(parts) == 2 and parts[0] == "edit":
        prompt = await reports.edit(tg_user.id, parts[1])
    if prompt is None:
        await _refuse(update, tr, Refusal(RefusalReason.NO_DRAFT))
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await _show(update, ctx, tr, prompt)


async def _sign(update: Update, ctx: Ctx, tr: Translator) -> None:
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    signed = await ctx.services.reports.sign(tg_user.id)
    if isinstance(signed, Refusal):
        await _refuse(update, tr, signed)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await _deliver(ctx, signed.report, signed.health_worker)
    await ctx.bot.send_message(
        tg_user.id, tr._("Report on case {code} sent to the health worker.", code=signed.case.code)
    )


async def _deliver(ctx: Ctx, report: ReportView, worker: UserView) -> None:
    """Queue the report for the health worker (clinical priority, once per report)."""
    tr = ctx.services.catalogs.get(worker.language)
    button = InlineKeyboardButton(
        tr._("✅ Received, I will act on it") if report.emergency else tr._("✅ Received"),
        callback_data=callbacks.make("ack", report.case_id),
    )
    message = text_message(
        worker.telegram_id,
        render(tr, report, report.case_code),
        InlineKeyboardMarkup([[button]]),
        dedupe_key=f"report:{report.id}",
    )
    await ctx.services.outbox.enqueue([message])


async def acknowledge(update: Update, ctx: Ctx) -> None:
    """``ack:<case>``: the health worker confirms the report; the specialist is told."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "ack", 1)
    case_id = callbacks.int_arg(parsed) if parsed else None
    if case_id is None:
        await _refuse(update, tr, Refusal(RefusalReason.UNKNOWN_CASE))
        return
    done = await ctx.services.reports.acknowledge(tg_user.id, case_id)
    if isinstance(done, Refusal):
        await _refuse(update, tr, done)
        return
    await query.answer(tr._("Thank you."))
    await query.edit_message_reply_markup(reply_markup=None)
    specialist_tr = ctx.services.catalogs.get(done.specialist.language)
    notice = specialist_tr._(
        "The health worker acknowledged your report on case {code}.", code=done.case.code
    )
    await ctx.services.outbox.enqueue(
        [
            text_message(
                done.specialist.telegram_id,
                notice,
                protect=False,
                dedupe_key=f"ack:{done.case.id}",
            )
        ]
    )
