"""``/start <code>``, the language picker and the registration questions."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from bot.accounts.invites import InviteError
from bot.accounts.onboarding import (
    AlreadyRegistered,
    Completed,
    InviteLost,
    Outcome,
    Problem,
    Prompt,
    Step,
)
from bot.domain import ROLE_LABELS, Status
from bot.handlers import callbacks, keyboards, menus, texts
from bot.handlers.approvals import ask_approvers
from bot.handlers.context import Ctx, alert, speaker
from bot.i18n import LANGUAGE_NAMES, Translator

MAX_START_PAYLOAD = 64


async def start(update: Update, ctx: Ctx) -> None:
    """``/start`` with or without an invite code."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    tr, user = await speaker(update, ctx)
    code = ctx.args[0] if ctx.args else ""
    if not code:
        if user is not None:
            await message.reply_text(texts.help_text(tr, user))
            return
        prompt = await ctx.services.onboarding.current(tg_user.id)
        if prompt is not None:
            await show_prompt(update, ctx, tr, prompt)
            return
        await message.reply_text(
            texts.stranger(tr), reply_markup=keyboards.languages(ctx.services.catalogs.available)
        )
        return
    if len(code) > MAX_START_PAYLOAD:
        code = ""
    try:
        prompt = await ctx.services.onboarding.begin(tg_user.id, code)
    except AlreadyRegistered as exc:
        await message.reply_text(
            tr._("You are already registered.") + "\n\n" + texts.help_text(tr, exc.user)
        )
        return
    except InviteError as exc:
        await message.reply_text(tr._(texts.INVITE_PROBLEMS[exc.problem]))
        return
    await show_prompt(update, ctx, tr, prompt)


async def choose_language(update: Update, ctx: Ctx) -> None:
    """A tap on a language button, at any time."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    parsed = callbacks.parse(query.data, "lang", 1)
    services = ctx.services
    if parsed is None or parsed.args[0] not in services.catalogs.available:
        await stale_button(update, ctx)
        return
    language = parsed.args[0]
    await services.directory.set_language(tg_user.id, language)
    prompt = await services.onboarding.choose_language(tg_user.id, language)
    tr = services.catalogs.get(language)
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    if prompt is not None:
        await show_prompt(update, ctx, tr, prompt)
        return
    user = await services.directory.by_telegram(tg_user.id)
    await ctx.bot.send_message(
        tg_user.id,
        tr._("I will now write to you in {language}.", language=LANGUAGE_NAMES[language]),
    )
    if user is None:
        await ctx.bot.send_message(tg_user.id, texts.stranger(tr))
    else:
        await menus.set_for_user(ctx.bot, tr, user)


async def answer(update: Update, ctx: Ctx) -> bool:
    """A typed answer during registration; False when the person is not registering."""
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None or message.text is None:
        return False
    outcome = await ctx.services.onboarding.answer(tg_user.id, message.text)
    if outcome is None:
        return False
    tr, _ = await speaker(update, ctx)
    await show_outcome(update, ctx, tr, outcome)
    return True


async def specialty(update: Update, ctx: Ctx) -> None:
    """Tapping a specialty toggles it; Done moves on."""
    query, tg_user = update.callback_query, update.effective_user
    if query is None or tg_user is None:
        return
    parsed = callbacks.parse(query.data, "spec", 1)
    onboarding = ctx.services.onboarding
    if parsed is None:
        await stale_button(update, ctx)
        return
    tr, _ = await speaker(update, ctx)
    if parsed.args[0] == "done":
        outcome = await onboarding.finish_specialties(tg_user.id)
        if outcome is None:
            await stale_button(update, ctx)
            return
        await query.answer()
        if not isinstance(outcome, Prompt) or outcome.problem is None:
            await query.edit_message_reply_markup(reply_markup=None)
        await show_outcome(update, ctx, tr, outcome)
        return
    prompt = await onboarding.toggle_specialty(tg_user.id, parsed.args[0])
    if prompt is None:
        await stale_button(update, ctx)
        return
    await query.answer()
    await query.edit_message_reply_markup(keyboards.specialties(tr, prompt.selected))


async def show_outcome(update: Update, ctx: Ctx, tr: Translator, outcome: Outcome) -> None:
    if isinstance(outcome, Prompt):
        await show_prompt(update, ctx, tr, outcome)
    elif isinstance(outcome, InviteLost):
        await _send(update, ctx, tr._(texts.INVITE_PROBLEMS[outcome.problem]))
    else:
        await _welcome(update, ctx, tr, outcome)


async def show_prompt(update: Update, ctx: Ctx, tr: Translator, prompt: Prompt) -> None:
    """Ask the current question (after saying what was wrong with the last answer)."""
    if prompt.problem is not None:
        await _send(update, ctx, tr._(texts.PROBLEMS[prompt.problem]))
        if prompt.step is not Step.SPECIALTIES or prompt.problem is Problem.NO_SPECIALTY:
            return
    if prompt.step is Step.LANGUAGE:
        catalogs = ctx.services.catalogs
        heading = "\n".join(
            texts.choose_language(catalogs.get(code)) for code in catalogs.available
        )
        await _send(update, ctx, heading, keyboards.languages(catalogs.available))
        return
    if prompt.step is Step.SPECIALTIES:
        await _send(
            update,
            ctx,
            tr._(texts.QUESTIONS[prompt.step]),
            keyboards.specialties(tr, prompt.selected),
        )
        return
    intro = ""
    if prompt.step is Step.FULL_NAME and prompt.problem is None:
        intro = (
            tr._(
                "Welcome to Sampark. You are joining as: {role}.",
                role=tr._(ROLE_LABELS[prompt.role]),
            )
            + "\n\n"
        )
    await _send(update, ctx, intro + tr._(texts.QUESTIONS[prompt.step]))


async def _welcome(update: Update, ctx: Ctx, tr: Translator, done: Completed) -> None:
    user = done.user
    if user.status is Status.ACTIVE:
        await menus.set_for_user(ctx.bot, tr, user)
        await _send(
            update,
            ctx,
            tr._("Welcome, {name}! Your registration is complete.", name=user.full_name)
            + "\n\n"
            + texts.help_text(tr, user),
        )
        return
    await _send(
        update,
        ctx,
        tr._(
            "Thank you, {name}. A coordinator will check your details; "
            "I will message you here when you are approved.",
            name=user.full_name,
        ),
    )
    await ask_approvers(ctx, user)


async def _send(
    update: Update, ctx: Ctx, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    await ctx.bot.send_message(chat.id, text, reply_markup=markup)


async def stale_button(update: Update, ctx: Ctx) -> None:
    """A button that no longer means anything (old message, forged data, decided already)."""
    query = update.callback_query
    if query is None:
        return
    tr, _ = await speaker(update, ctx)
    await alert(update, tr)
