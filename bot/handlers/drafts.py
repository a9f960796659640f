"""``/new``: the health worker's case form, one question at a time, with buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.cases.drafts import (
    GROUPS,
    SEXES,
    SKIPPABLE,
    DraftPrompt,
    ExistingDraft,
    NotAHealthWorker,
    Step,
    Submitted,
)
from bot.domain import SPECIALTIES, URGENCY_LABELS, Urgency
from bot.handlers import callbacks, case_texts
from bot.handlers.context import Ctx, alert, speaker
from bot.i18n import Translator


def _button(text: str, kind: str, *args: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=callbacks.make(kind, *args))


def keyboard(tr: Translator, prompt: DraftPrompt) -> InlineKeyboardMarkup | None:
    """The buttons of a step (labels translated, data language-independent)."""
    step = prompt.step
    rows: list[list[InlineKeyboardButton]] = []
    if step is Step.SEX:
        rows = [[_button(tr._(case_texts.SEX_LABELS[s]), "d", step, s) for s in SEXES]]
    elif step in GROUPS:
        rows = [[_button(tr._("Add"), "d", step, "add"), _button(tr._("Skip"), "d", step, "skip")]]
    elif step is Step.HISTORY:
        rows = [
            [_button(tr._("Done"), "d", step, "done"), _button(tr._("Skip"), "d", step, "skip")]
        ]
    elif step in SKIPPABLE:
        rows = [[_button(tr._("Skip"), "d", step, "skip")]]
    elif step is Step.SPECIALTY:
        buttons = [_button(tr._(label), "d", step, code) for code, label in SPECIALTIES.items()]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    elif step is Step.URGENCY:
        rows = [[_button(tr._(URGENCY_LABELS[u]), "d", step, u.value)] for u in Urgency]
    elif step is Step.ATTACHMENTS:
        rows = [
            [_button(tr._("Done"), "d", step, "done")],
            [_button(tr._("📤 Upload a whole study"), "up")],
        ]
    elif step is Step.REVIEW:
        rows = [
            [_button(tr._("Looks right"), "d", step, "ok")],
            [_button(tr._("Discard this case"), "dc", "ask")],
        ]
    elif step is Step.CONSENT:
        who = ["guardian"] if prompt.minor else ["patient", "guardian"]
        rows = [[_button(tr._(case_texts.CONSENT_LABELS[w]), "d", step, w)] for w in who]
        rows.append([_button(tr._("No, not yet"), "d", step, "no")])
    return InlineKeyboardMarkup(rows) if rows else None


async def show(update: Update, ctx: Ctx, tr: Translator, prompt: DraftPrompt) -> None:
    """Send the current question (after the problem with the last answer, if any)."""
    chat = update.effective_chat
    if chat is None:
        return
    text = tr._(case_texts.DRAFT_QUESTIONS[prompt.step])
    if prompt.step is Step.ATTACHMENTS and prompt.attachments:
        text += "\n" + tr.ngettext(
            "{n} file received so far.", "{n} files received so far.", prompt.attachments
        )
    if prompt.step is Step.REVIEW:
        text = case_texts.review(tr, prompt) + "\n\n" + text
    if prompt.problem:
        text = (
            tr._(case_texts.DRAFT_PROBLEMS.get(prompt.problem, case_texts.GENERIC_PROBLEM))
            + "\n\n"
            + text
        )
    await ctx.bot.send_message(chat.id, text, reply_markup=keyboard(tr, prompt))


async def new(update: Update, ctx: Ctx) -> None:
    """``/new``: start a case, or offer to continue the open draft."""
    tr, _ = await speaker(update, ctx)
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    try:
        outcome = await ctx.services.drafts.start(tg_user.id)
    except NotAHealthWorker:
        await message.reply_text(tr._("Only registered health workers can send cases."))
        return
    if isinstance(outcome, ExistingDraft):
        await message.reply_text(
            tr._("You have an unfinished case. Continue it or start again?"),
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        _button(tr._("Continue"), "dn", "continue"),
                        _button(tr._("Start again"), "dn", "restart"),
                    ]
                ]
            ),
        )
        return
    await show(update, ctx, tr, outcome)


async def continue_or_restart(update: Update, ctx: Ctx) -> None:
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "dn", 1)
    drafts = ctx.services.drafts
    try:
        if parsed is not None and parsed.args[0] == "restart":
            prompt: DraftPrompt | None = await drafts.restart(tg_user.id)
        else:
            prompt = await drafts.resume(tg_user.id) if parsed is not None else None
    except NotAHealthWorker:
        prompt = None
    if prompt is None:
        await alert(update, tr)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await show(update, ctx, tr, prompt)


async def cancel(update: Update, ctx: Ctx) -> None:
    """``/cancel``: ask before discarding the draft."""
    tr, _ = await speaker(update, ctx)
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    if await ctx.services.drafts.state(tg_user.id) is None:
        await message.reply_text(tr._("There is no unfinished case to cancel."))
        return
    await message.reply_text(
        tr._("Discard this case? Everything entered so far will be deleted."),
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    _button(tr._("Yes, discard"), "dc", "yes"),
                    _button(tr._("No, keep it"), "dc", "no"),
                ]
            ]
        ),
    )


async def discard(update: Update, ctx: Ctx) -> None:
    """The buttons of ``/cancel`` (and "Discard this case" on the review)."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "dc", 1)
    action = parsed.args[0] if parsed else None
    if action == "ask":
        await query.answer()
        await cancel(update, ctx)
        return
    drafts = ctx.services.drafts
    if action == "yes" and await drafts.cancel(tg_user.id) is not None:
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)
        await ctx.bot.send_message(
            tg_user.id, tr._("The case was discarded. Send /new to start a new one.")
        )
        return
    prompt = await drafts.resume(tg_user.id) if action == "no" else None
    if prompt is None:
        await alert(update, tr)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await show(update, ctx, tr, prompt)


async def choose(update: Update, ctx: Ctx) -> None:
    """A button of the form (``d:<step>:<value>``)."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    tr, _ = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "d", 2)
    step = Step(parsed.args[0]) if parsed and parsed.args[0] in Step._value2member_map_ else None
    if step is None or parsed is None:
        await alert(update, tr)
        return
    if step is Step.CONSENT and parsed.args[1] != "no":
        await query.answer()
        await _submit(update, ctx, tr, parsed.args[1])
        return
    prompt = await ctx.services.drafts.choose(tg_user.id, step, parsed.args[1])
    if prompt is None:
        await alert(update, tr)
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await show(update, ctx, tr, prompt)


async def _submit(update: Update, ctx: Ctx, tr: Translator, consent_by: str) -> None:
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    outcome = await ctx.services.drafts.submit(tg_user.id, consent_by)
    if outcome is None:
        await alert(update, tr)
        return
    await query.edit_message_reply_markup(reply_markup=None)
    if not isinstance(outcome, Submitted):
        await show(update, ctx, tr, outcome)
        return
    await ctx.bot.send_message(
        tg_user.id,
        tr._(
            "Case submitted. Your case code is {code}. "
            "I will tell you here when a specialist accepts it.",
            code=outcome.case.code,
        ),
    )
    await ctx.services.offers.route(outcome.case.id)


async def answer(update: Update, ctx: Ctx) -> bool:
    """A typed answer to the form; False when no draft is open."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None or message.text is None:
        return False
    prompt = await ctx.services.drafts.answer(tg_user.id, message.text)
    if prompt is None:
        return False
    tr, _ = await speaker(update, ctx)
    if prompt.collected:
        await message.reply_text(
            tr._("Noted. Write more, send a voice note, or tap Done."),
            reply_markup=keyboard(tr, prompt),
        )
        return True
    await show(update, ctx, tr, prompt)
    return True
