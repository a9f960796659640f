"""``/broadcast``: coordinators compose a message to a segment, preview it and send it.

Recipients answer with "Reply" (or a Telegram reply to the message): the text goes to the
author, tagged with the broadcast. A photo or PDF sent while composing is attached.

A coordinator's segment is always within their own district; an administrator may tick
"Only <district>" off to reach every district.

The dialogue lives in the database (the draft broadcast's ``step``): kind → segment →
English text (typed) → Translations (a text per language, optional; see
``broadcast_languages``) → preview → Send now / Schedule / Cancel. Buttons
carry ``bc:<broadcast id>:<action>:<value>``; every tap checks that the speaker is an
active coordinator or administrator and the broadcast's author. Recipients of an alert
tap "Seen" (``seen:<broadcast id>``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.accounts.directory import UserView
from bot.cases.broadcast_replies import Delivery, title
from bot.cases.broadcast_report import STATUS_LABELS, kind_label, report_markup, report_text
from bot.cases.broadcasts import (
    FALLBACK_LANGUAGE,
    MAX_CAPTION,
    BroadcastError,
    BroadcastStatus,
    BroadcastView,
    Kind,
    recipient_markup,
)
from bot.domain import ROLE_LABELS, SPECIALTIES, Role
from bot.handlers import broadcast_languages as langs
from bot.handlers import broadcast_when as when
from bot.handlers import callbacks
from bot.handlers.context import Ctx, alert, speaker
from bot.i18n import LANGUAGE_NAMES, N_, Translator

ONLY_COORDINATORS = N_("Only coordinators and administrators can send broadcasts.")
NOT_A_RECIPIENT = N_("This message was not sent to you.")
ROLES = (Role.HEALTH_WORKER, Role.SPECIALIST, Role.COORDINATOR)
LANGUAGES_PER_ROW = 4  # the segment's language buttons: thirteen names in their own scripts
CHECK = "✅ "
STEP_TEXT_EN = "text_en"
STEP_PREVIEW = "preview"
STEP_SEGMENT = "segment"
STEP_FACILITIES = "seg_fac"
STEP_SPECIALTIES = "seg_spec"
SEGMENT_STEPS = (STEP_SEGMENT, STEP_FACILITIES, STEP_SPECIALTIES)
MAX_FACILITIES = 20  # buttons on one page
#: Steps at which a photo or PDF becomes the broadcast's attachment (and typed texts).
ATTACH_STEPS = (STEP_TEXT_EN, langs.STEP_LANGS, STEP_PREVIEW)
TIME_PASSED = N_("That time has passed. Please choose a later one.")
TOO_LONG_FOR_CAPTION = N_(
    "With a picture or file the text can have at most {n} characters. Please type a shorter text."
)


def _button(
    tr_text: str, broadcast_id: int, action: str, value: object = 0
) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        tr_text, callback_data=callbacks.make("bc", broadcast_id, action, value)
    )


def _may_widen(user: UserView) -> bool:
    """Administrators may reach beyond their district; coordinators stay within theirs."""
    return bool(user.district) and user.role is Role.ADMIN


def _kind_label(tr: Translator, kind: Kind) -> str:
    return kind_label(tr, kind)


def _segment_markup(tr: Translator, b: BroadcastView, user: UserView) -> InlineKeyboardMarkup:
    roles = b.segment["roles"]
    rows = [
        [
            _button(
                (CHECK if role.value in roles else "") + tr._(ROLE_LABELS[role]),
                b.id,
                "role",
                role.value,
            )
        ]
        for role in ROLES
    ]
    if _may_widen(user):
        mine = user.district in b.segment["districts"]
        rows.append(
            [
                _button(
                    (CHECK if mine else "") + tr._("Only {district}", district=user.district),
                    b.id,
                    "dist",
                )
            ]
        )
    languages = [
        _button((CHECK if code in b.segment["languages"] else "") + name, b.id, "lang", code)
        for code, name in LANGUAGE_NAMES.items()
    ]
    rows += [
        languages[i : i + LANGUAGES_PER_ROW] for i in range(0, len(languages), LANGUAGES_PER_ROW)
    ]
    rows.append(
        [
            _button(_counted(tr._("Facilities"), b.segment["facilities"]), b.id, "page", "fac"),
            _button(_counted(tr._("Specialties"), b.segment["specialties"]), b.id, "page", "spec"),
        ]
    )
    rows.append([_button(tr._("Next"), b.id, "next"), _button(tr._("Cancel"), b.id, "drop")])
    return InlineKeyboardMarkup(rows)


def _counted(label: str, chosen: list[Any]) -> str:
    return f"{label} ({len(chosen)})" if chosen else f"{label} …"


def _page_markup(
    tr: Translator, b: BroadcastView, choices: list[tuple[str, str]], key: str, action: str
) -> InlineKeyboardMarkup:
    """One toggle per choice (two a row), then Back to the segment."""
    chosen = {str(v) for v in b.segment[key]}
    buttons = [
        _button((CHECK if value in chosen else "") + label, b.id, action, value)
        for value, label in choices
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_button(tr._("Back"), b.id, "page", "main")])
    return InlineKeyboardMarkup(rows)


async def _facility_choices(ctx: Ctx, user: UserView) -> list[tuple[str, str]]:
    """The facilities a coordinator may pick: those of their own district."""
    facilities = await ctx.services.facilities.in_district(user.district)
    return [(str(f.id), f.name) for f in facilities[:MAX_FACILITIES]]


def _specialty_choices(tr: Translator) -> list[tuple[str, str]]:
    return [(code, tr._(label)) for code, label in SPECIALTIES.items()]


async def _segment_text(ctx: Ctx, tr: Translator, b: BroadcastView) -> str:
    count = len(await ctx.services.broadcasts.resolve(b.segment))
    return (
        tr._("Who should get it? Nothing ticked in a row means everyone.")
        + "\n"
        + tr.ngettext("Recipients now: {n} person.", "Recipients now: {n} people.", count)
    )


def _composing(step: str | None) -> bool:
    """Whether ``step`` takes a photo or PDF as the attachment."""
    return step in ATTACH_STEPS or langs.language_of(step) is not None


async def _readers(ctx: Ctx, b: BroadcastView) -> Counter[str]:
    """How many of the segment's recipients read each language."""
    return langs.readers(u.language for u in await ctx.services.broadcasts.resolve(b.segment))


def _preview(tr: Translator, b: BroadcastView, counts: Counter[str]) -> str:
    parts = [
        tr.ngettext(
            "Preview ({kind}) for {n} person:",
            "Preview ({kind}) for {n} people:",
            sum(counts.values()),
            kind=_kind_label(tr, b.kind),
        ),
        *langs.preview_texts(b),
    ]
    fallback = langs.fallback_line(tr, b, counts)
    if fallback:
        parts.append(fallback)
    if b.attachment:
        parts.append(tr._("📎 With a picture or file."))
    return "\n\n".join(parts)


async def _refuse(update: Update, tr: Translator) -> None:
    if update.callback_query is not None:
        await alert(update, tr, ONLY_COORDINATORS)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(tr._(ONLY_COORDINATORS))


async def broadcast(update: Update, ctx: Ctx) -> None:
    """Start composing: choose a plain broadcast or an alert."""
    tr, user = await speaker(update, ctx)
    message = update.effective_message
    if message is None:
        return
    if user is None or not user.can_approve:
        await _refuse(update, tr)
        return
    service = ctx.services.broadcasts
    old = await service.draft_of(user.id)
    if old is not None:
        await service.cancel(old.id)
    segment = {"districts": [user.district]} if user.district else {}
    bid = await service.create(user.id, segment=segment, step="kind")
    await message.reply_text(
        tr._("What do you want to send?"),
        reply_markup=InlineKeyboardMarkup(
            [
                [_button(_kind_label(tr, Kind.BROADCAST), bid, "kind", Kind.BROADCAST.value)],
                [_button(_kind_label(tr, Kind.ALERT), bid, "kind", Kind.ALERT.value)],
                [_button(tr._("Cancel"), bid, "drop")],
            ]
        ),
    )


async def broadcasts_list(update: Update, ctx: Ctx) -> None:
    """``/broadcasts``: the speaker's recent broadcasts, each with its report button."""
    tr, user = await speaker(update, ctx)
    message = update.effective_message
    if message is None:
        return
    if user is None or not user.can_approve:
        await _refuse(update, tr)
        return
    recent = await ctx.services.broadcasts.recent(user.id, limit=8)
    if not recent:
        await message.reply_text(
            tr._("You have not sent any broadcasts yet. Start with /broadcast.")
        )
        return
    rows = [
        [
            _button(
                f"#{b.id} {_kind_label(tr, b.kind)} · {tr._(STATUS_LABELS[b.status])} · "
                + (b.texts.get(FALLBACK_LANGUAGE, "")[:24]),
                b.id,
                "report",
            )
        ]
        for b in recent
    ]
    await message.reply_text(
        tr._("Your recent broadcasts (tap one for its report):"),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def button(update: Update, ctx: Ctx) -> None:
    """Every ``bc:`` tap: checked, then one step of the dialogue or a report action."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "bc", 3)
    bid = callbacks.int_arg(parsed) if parsed else None
    if parsed is None or bid is None:
        await alert(update, tr)
        return
    if user is None or not user.can_approve:
        await alert(update, tr, ONLY_COORDINATORS)
        return
    service = ctx.services.broadcasts
    b = await service.get(bid)
    if b is None or (b.author_id != user.id and user.role is not Role.ADMIN):
        await alert(update, tr)
        return
    action, value = parsed.args[1], parsed.args[2]
    handler = _DRAFT_ACTIONS.get(action)
    if handler is not None:
        if b.status is not BroadcastStatus.DRAFT:
            await alert(update, tr)
            return
        await handler(update, ctx, tr, user, b, value)
        return
    after = _SENT_ACTIONS.get(action)
    if after is None or b.status is BroadcastStatus.DRAFT:
        await alert(update, tr)
        return
    await after(update, ctx, tr, user, b, value)


async def _kind(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    if value not in {k.value for k in Kind} or b.step != "kind":
        await alert(update, tr)
        return
    b = await ctx.services.broadcasts.update_draft(b.id, kind=Kind(value), step=STEP_SEGMENT)
    await _show_segment(update, ctx, tr, user, b)


async def _show_segment(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView
) -> None:
    """The segment screen of the draft's step (main, facilities or specialties)."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    if b.step == STEP_FACILITIES:
        choices = await _facility_choices(ctx, user)
        markup = _page_markup(tr, b, choices, "facilities", "fac")
    elif b.step == STEP_SPECIALTIES:
        markup = _page_markup(tr, b, _specialty_choices(tr), "specialties", "spec")
    else:
        markup = _segment_markup(tr, b, user)
    await query.edit_message_text(await _segment_text(ctx, tr, b), reply_markup=markup)


async def _page(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """Open the facilities or specialties page of the segment, or go back to the main one."""
    step = {"fac": STEP_FACILITIES, "spec": STEP_SPECIALTIES, "main": STEP_SEGMENT}.get(value)
    if b.step not in SEGMENT_STEPS or step is None:
        await alert(update, tr)
        return
    b = await ctx.services.broadcasts.update_draft(b.id, step=step)
    await _show_segment(update, ctx, tr, user, b)


async def _toggle(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    query = update.callback_query
    assert query is not None
    assert query.data is not None
    action = query.data.split(":")[2]
    step, key, allowed = {
        "role": (STEP_SEGMENT, "roles", {r.value for r in ROLES}),
        "dist": (STEP_SEGMENT, "districts", {"0"}),
        "lang": (STEP_SEGMENT, "languages", set(LANGUAGE_NAMES)),
        "spec": (STEP_SPECIALTIES, "specialties", set(SPECIALTIES)),
        "fac": (STEP_FACILITIES, "facilities", set()),
    }[action]
    if action == "fac":
        allowed = {value for value, _ in await _facility_choices(ctx, user)}
    if b.step != step or value not in allowed or (action == "dist" and not _may_widen(user)):
        await alert(update, tr)
        return
    item: Any = user.district if action == "dist" else value
    if action == "fac":
        item = int(value)
    chosen = set(b.segment[key])
    chosen ^= {item}
    segment: dict[str, Any] = dict(b.segment)
    segment[key] = sorted(chosen)
    b = await ctx.services.broadcasts.update_draft(b.id, segment=segment, step=step)
    await _show_segment(update, ctx, tr, user, b)


async def _next(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    query = update.callback_query
    assert query is not None
    if b.step not in SEGMENT_STEPS:
        await alert(update, tr)
        return
    await ctx.services.broadcasts.update_draft(b.id, step=STEP_TEXT_EN)
    await query.answer()
    await query.edit_message_text(tr._("Type the message in English."))


async def _done(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """Done under the Translations list (or Skip under an older Hindi question): preview."""
    query = update.callback_query
    assert query is not None
    if b.step not in (langs.STEP_LANGS, langs.LEGACY_HINDI_STEP):
        await alert(update, tr)
        return
    b = await ctx.services.broadcasts.update_draft(b.id, step=STEP_PREVIEW)
    await query.answer()
    await query.edit_message_reply_markup(None)
    if query.message is not None:
        await _send_preview(ctx, tr, b, query.message.chat.id)


async def _pick(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """A language tapped in the Translations list: ask for its text."""
    query = update.callback_query
    assert query is not None
    if b.step != langs.STEP_LANGS or value not in LANGUAGE_NAMES:
        await alert(update, tr)
        return
    b = await ctx.services.broadcasts.update_draft(b.id, step=langs.text_step(value))
    text, markup = langs.prompt(tr, b, value)
    await query.answer()
    await query.edit_message_text(text, reply_markup=markup)


async def _languages(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """Back from a language's question to the Translations list."""
    query = update.callback_query
    assert query is not None
    if langs.language_of(b.step) is None:
        await alert(update, tr)
        return
    b = await ctx.services.broadcasts.update_draft(b.id, step=langs.STEP_LANGS)
    counts = await _readers(ctx, b)
    await query.answer()
    await query.edit_message_text(
        langs.list_text(tr, b, counts), reply_markup=langs.list_markup(tr, b, counts)
    )


async def _drop(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    query = update.callback_query
    assert query is not None
    await ctx.services.broadcasts.cancel(b.id)
    await query.answer()
    await query.edit_message_text(tr._("Broadcast discarded. Nothing was sent."))


async def _send_now(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    query = update.callback_query
    assert query is not None
    if b.step != STEP_PREVIEW:
        await alert(update, tr)
        return
    service = ctx.services.broadcasts
    try:
        await service.send(b.id)
    except BroadcastError:
        await alert(update, tr)
        return
    await query.answer()
    await _show_report(update, ctx, tr, b.id)


async def _show_report(update: Update, ctx: Ctx, tr: Translator, bid: int) -> None:
    query = update.callback_query
    assert query is not None
    service = ctx.services.broadcasts
    report = await service.report(bid)
    b = await service.get(bid)
    assert b is not None
    text = report_text(tr, b, report)
    if query.message is None:
        return
    if getattr(query.message, "text", None) != text:  # Telegram refuses an identical edit
        await query.edit_message_text(
            text,
            reply_markup=InlineKeyboardMarkup.de_json(report_markup(tr, b, report), ctx.bot),
        )
    # this message now follows the counts by itself (throttled edits through the outbox)
    await service.set_report_message(bid, query.message.chat.id, query.message.message_id)


async def _report(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await _show_report(update, ctx, tr, b.id)


async def _resend(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    query = update.callback_query
    assert query is not None
    try:
        count = await ctx.services.broadcasts.resend_unseen(b.id)
    except BroadcastError:
        await alert(update, tr)
        return
    await query.answer(
        tr.ngettext("Sent again to {n} person.", "Sent again to {n} people.", count),
        show_alert=True,
    )


async def _stop(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    query = update.callback_query
    assert query is not None
    if b.status not in (BroadcastStatus.SENDING, BroadcastStatus.SCHEDULED):
        await alert(update, tr)
        return
    await ctx.services.broadcasts.cancel(b.id)
    await query.answer()
    await _show_report(update, ctx, tr, b.id)


async def _replies(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """The newest replies to this broadcast, as a new message."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    replies = await ctx.services.broadcasts.replies.latest(b.id)
    if query.message is None:
        return
    if not replies:
        await ctx.bot.send_message(query.message.chat.id, tr._("No replies yet."))
        return
    lines = [tr._("Replies to #{id} “{title}”:", id=b.id, title=title(b.texts, tr.language))]
    for reply in replies:
        role = tr._(reply.role_label) + (f", {reply.facility}" if reply.facility else "")
        lines.append(f"\n{reply.name} ({role}):\n{reply.text}")
    await ctx.bot.send_message(query.message.chat.id, "\n".join(lines)[:4000])


def _preview_markup(tr: Translator, b: BroadcastView) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [_button(tr._("Send now"), b.id, "send"), _button(tr._("Schedule"), b.id, "when")],
            [_button(tr._("Cancel"), b.id, "drop")],
        ]
    )


async def _send_preview(ctx: Ctx, tr: Translator, b: BroadcastView, chat_id: int) -> None:
    counts = await _readers(ctx, b)
    await ctx.bot.send_message(
        chat_id, _preview(tr, b, counts), reply_markup=_preview_markup(tr, b)
    )


def _zone(ctx: Ctx) -> ZoneInfo:
    return ZoneInfo(ctx.services.settings.roster_timezone)


def _when_markup(ctx: Ctx, tr: Translator, b: BroadcastView, step: str) -> InlineKeyboardMarkup:
    """The picker for ``step``: days, then times, then once or weekly; Back on each."""
    day, hhmm = when.chosen(step)
    now, zone = ctx.services.clock.now(), _zone(ctx)
    if day is None:
        buttons = [_button(when.day_label(tr, d), b.id, "day", d) for d in when.days(now, zone)]
        width = 2
    elif hhmm is None:
        buttons = [
            _button(when.time_label(t), b.id, "at", t) for t in when.times_on(day, now, zone)
        ]
        width = 3
    else:
        buttons = [
            _button(tr._("Only once"), b.id, "once"),
            _button(tr._("Every {weekday}", weekday=when.weekday_label(tr, day)), b.id, "weekly"),
        ]
        width = 1
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    rows.append([_button(tr._("Back"), b.id, "wback")])
    return InlineKeyboardMarkup(rows)


async def _when(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """Schedule… from the preview: pick the day first."""
    if b.step != STEP_PREVIEW:
        await alert(update, tr)
        return
    await _when_step(update, ctx, tr, b, when.STEP_WHEN)


async def _when_step(update: Update, ctx: Ctx, tr: Translator, b: BroadcastView, step: str) -> None:
    query = update.callback_query
    assert query is not None
    b = await ctx.services.broadcasts.update_draft(b.id, step=step)
    await query.answer(tr._("Times are India time.") if step == when.STEP_WHEN else None)
    await query.edit_message_reply_markup(_when_markup(ctx, tr, b, step))


async def _day(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    if b.step != when.STEP_WHEN or value not in when.days(ctx.services.clock.now(), _zone(ctx)):
        await alert(update, tr)
        return
    await _when_step(update, ctx, tr, b, f"{when.STEP_WHEN}:{value}")


async def _at(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    day, hhmm = when.chosen(b.step)
    if day is None or hhmm is not None or value not in when.TIMES:
        await alert(update, tr)
        return
    await _when_step(update, ctx, tr, b, f"{when.STEP_WHEN}:{day}{value}")


async def _back(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """One step back in the picker; from the days back to the preview's buttons."""
    query = update.callback_query
    assert query is not None
    if not when.is_when_step(b.step):
        await alert(update, tr)
        return
    day, hhmm = when.chosen(b.step)
    if day is None:
        b = await ctx.services.broadcasts.update_draft(b.id, step=STEP_PREVIEW)
        await query.answer()
        await query.edit_message_reply_markup(_preview_markup(tr, b))
        return
    back = f"{when.STEP_WHEN}:{day}" if hhmm else when.STEP_WHEN
    await _when_step(update, ctx, tr, b, back)


async def _schedule(
    update: Update, ctx: Ctx, tr: Translator, user: UserView, b: BroadcastView, value: str
) -> None:
    """Only once / every week: scheduled; the preview becomes the report (with Stop)."""
    query = update.callback_query
    assert query is not None
    assert query.data is not None
    day, hhmm = when.chosen(b.step)
    if day is None or hhmm is None:
        await alert(update, tr)
        return
    at = when.moment(day, hhmm, _zone(ctx))
    if at <= ctx.services.clock.now():
        await alert(update, tr, TIME_PASSED)
        return
    weekly = query.data.split(":")[2] == "weekly"
    try:
        await ctx.services.broadcasts.schedule(b.id, at, weekly=weekly)
    except BroadcastError:
        await alert(update, tr)
        return
    await query.answer()
    await _show_report(update, ctx, tr, b.id)


async def answer(update: Update, ctx: Ctx) -> bool:
    """Typed text while composing (English, then a language from the list); False if not."""
    message = update.effective_message
    if message is None or not message.text:
        return False
    tr, user = await speaker(update, ctx)
    if user is None or not user.can_approve:
        return False
    service = ctx.services.broadcasts
    draft = await service.draft_of(user.id)
    if draft is None:
        return False
    language = FALLBACK_LANGUAGE if draft.step == STEP_TEXT_EN else langs.language_of(draft.step)
    if language is None and draft.step != langs.STEP_LANGS:
        return False
    b = draft  # typed at the list without a language tapped: taken for nothing, list again
    if language is not None:
        if draft.attachment and len(message.text) > MAX_CAPTION:
            await message.reply_text(tr._(TOO_LONG_FOR_CAPTION, n=MAX_CAPTION))
            return True
        b = await service.update_draft(
            draft.id, text=(language, message.text), step=langs.STEP_LANGS
        )
    counts = await _readers(ctx, b)
    await message.reply_text(
        langs.list_text(tr, b, counts), reply_markup=langs.list_markup(tr, b, counts)
    )
    return True


async def seen(update: Update, ctx: Ctx) -> None:
    """A recipient tapped "Seen" under an alert."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "seen", 1)
    bid = callbacks.int_arg(parsed) if parsed else None
    if bid is None or user is None:
        await alert(update, tr)
        return
    if not await ctx.services.broadcasts.mark_seen(user.id, bid):
        await alert(update, tr, NOT_A_RECIPIENT)
        return
    await query.answer(tr._("Thank you, noted."))
    b = await ctx.services.broadcasts.get(bid)
    if b is not None:  # "Seen" goes, "Reply" stays
        markup = recipient_markup(tr, b, seen=True)
        await query.edit_message_reply_markup(InlineKeyboardMarkup.de_json(markup, ctx.bot))


async def reply_button(update: Update, ctx: Ctx) -> None:
    """A recipient tapped "Reply": ask for the text as a reply to a prompt we remember."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await speaker(update, ctx)
    parsed = callbacks.parse(query.data, "bcr", 1)
    bid = callbacks.int_arg(parsed) if parsed else None
    if bid is None or user is None or not user.is_active:
        await alert(update, tr)
        return
    service = ctx.services.broadcasts
    b = await service.get(bid)
    if b is None or not await service.replies.is_recipient(user.id, bid):
        await alert(update, tr, NOT_A_RECIPIENT)
        return
    await query.answer()
    prompt = await ctx.bot.send_message(
        user.telegram_id,
        tr._(
            "Type your reply to #{id} “{title}”. It goes to the sender.",
            id=bid,
            title=title(b.texts, user.language),
        ),
        reply_markup=ForceReply(selective=True),
    )
    await service.replies.prompt_sent(user.id, bid, prompt.message_id)


async def replied(update: Update, ctx: Ctx) -> None:
    """Text sent as a reply to one of the bot's messages: to a broadcast → to its author."""
    message = update.effective_message
    if message is None or message.reply_to_message is None or not message.text:
        return
    tr, user = await speaker(update, ctx)
    service = ctx.services.broadcasts
    bid = None
    if user is not None and user.is_active:
        replied_to = message.reply_to_message
        bid = await service.replies.find(user, replied_to.message_id)
        button = _reply_button_of(replied_to)
        if (
            bid is None
            and button is not None
            and await service.replies.is_recipient(user.id, button)
        ):
            bid = button  # its outbox row was purged long ago; the Reply button still says
    if user is None or bid is None:
        from bot.handlers import general  # imports this module: import late

        await general.text(update, ctx)
        return
    delivery = await service.replies.record(bid, user, message.text)
    if delivery is Delivery.FORWARDED:
        await message.reply_text(tr._("Thank you. Your reply was passed on to the sender."))
    else:
        await message.reply_text(
            tr._("Thank you. Your reply was saved; the sender cannot be reached in the chat now.")
        )


def _reply_button_of(message: Message) -> int | None:
    """The broadcast id in the "Reply" button under one of the bot's messages, if any."""
    markup = message.reply_markup
    if message.from_user is None or not message.from_user.is_bot or markup is None:
        return None
    for row in markup.inline_keyboard:
        for key in row:
            parsed = callbacks.parse(
                key.callback_data if isinstance(key.callback_data, str) else None, "bcr", 1
            )
            if parsed is not None:
                return callbacks.int_arg(parsed)
    return None


def _attachment_of(message: Message) -> dict[str, str] | None:
    if message.photo:
        return {"type": "photo", "file_id": message.photo[-1].file_id}
    document = message.document
    if document is not None and (document.mime_type or "").lower() in (
        "application/pdf",
        "image/jpeg",
        "image/png",
    ):
        return {"type": "document", "file_id": document.file_id}
    return None


async def attach(update: Update, ctx: Ctx) -> None:
    """A photo or PDF while composing becomes the broadcast's attachment; else a case file."""
    message = update.effective_message
    if message is None:
        return
    tr, user = await speaker(update, ctx)
    service = ctx.services.broadcasts
    draft = await service.draft_of(user.id) if user is not None and user.can_approve else None
    attachment = _attachment_of(message)
    if draft is None or not _composing(draft.step) or attachment is None:
        from bot.handlers import files  # imports this module (through general): import late

        await files.incoming(update, ctx)
        return
    if any(len(t) > MAX_CAPTION for t in draft.texts.values()):
        await message.reply_text(tr._(TOO_LONG_FOR_CAPTION, n=MAX_CAPTION))
        return
    b = await service.update_draft(draft.id, attachment=attachment, step=draft.step)
    await message.reply_text(tr._("Attached. It will be sent with the message."))
    if b.step == STEP_PREVIEW:
        await _send_preview(ctx, tr, b, message.chat_id)


_DRAFT_ACTIONS = {
    "kind": _kind,
    "role": _toggle,
    "dist": _toggle,
    "lang": _toggle,
    "fac": _toggle,
    "spec": _toggle,
    "page": _page,
    "next": _next,
    "tr": _pick,
    "langs": _languages,
    "done": _done,
    "skip": _done,  # under the Hindi question of drafts begun before the Translations step
    "drop": _drop,
    "send": _send_now,
    "when": _when,
    "day": _day,
    "at": _at,
    "once": _schedule,
    "weekly": _schedule,
    "wback": _back,
}
_SENT_ACTIONS = {"report": _report, "resend": _resend, "stop": _stop, "replies": _replies}


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    """The broadcast handlers, to be placed before the catch-alls."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("broadcast", broadcast, filters=private),
        CommandHandler("broadcasts", broadcasts_list, filters=private),
        CallbackQueryHandler(button, pattern=r"^bc:"),
        CallbackQueryHandler(seen, pattern=r"^seen:"),
        CallbackQueryHandler(reply_button, pattern=r"^bcr:"),
        MessageHandler(private & filters.TEXT & filters.REPLY & ~filters.COMMAND, replied),
        MessageHandler(
            private & (filters.PHOTO | filters.Document.PDF | filters.Document.IMAGE),
            attach,
            block=False,
        ),
    ]
