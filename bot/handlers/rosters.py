"""Rosters in chat: ``/oncall``, ``/roster`` (a picture and buttons), CSV in and out.

- ``/oncall`` (anyone active): who is on call now per specialty — names only.
- ``/roster`` (coordinators, administrators): this week as a picture, with buttons to add a
  weekly shift, add a one-day change (extra cover or time off) or remove a shift. Each is
  a short button dialogue (specialty → specialist → day or date → from → to). The choices
  so far travel in the buttons' ``callback_data`` (at most ~40 of the 64 bytes), so every
  step is kept in the message itself: a restart or a day's pause resumes where it was,
  and the ``dialogues`` row other flows use stays untouched. Every tap re-checks the role
  and every value on the server; forged data changes nothing.
- A ``.csv`` document from a coordinator is imported (all or nothing, problems listed by
  line and column); ``/roster_csv`` sends the roster back in the same format.
- ``report_gaps`` / ``TelegramGapNotifier``: the daily coverage-gap message to coordinators.

Rosters belong to a specialty, not to a district (one roster serves every district), so
any active coordinator or administrator may change them; changes are audited with the
coordinator's Telegram id.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import get_day_names
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.accounts.directory import Directory, UserView
from bot.cases import roster_picture
from bot.cases.coverage import Coverage, CoverageService
from bot.cases.roster_csv import MAX_BYTES, TOO_LARGE, CsvProblem, ImportResult, RosterCsv
from bot.cases.rosters import DuplicateShift, RosterError, ShiftView, format_hhmm
from bot.domain import SPECIALTIES, Role
from bot.handlers import callbacks, files
from bot.handlers.context import Ctx, alert, speaker
from bot.i18n import N_, Catalogs, Translator
from bot.outbox import Message, Outbox, Priority
from bot.services import Services

log = logging.getLogger(__name__)

#: Callback kinds: add a weekly shift, add a one-day change, remove, close the dialogue.
WEEKLY, OVERRIDE, REMOVE, CLOSE = "rs", "ro", "rx", "rq"
PATTERN = r"^(rs|ro|rx|rq)(:|$)"
OVERRIDE_DAYS = 14  # dates offered as buttons
OVERRIDE_HORIZON = 62  # dates accepted (a button may be tapped weeks later)
LIST_LIMIT = 40  # shifts offered for removal at once
PROBLEMS_SHOWN = 25
TEXT_LIMIT = 4000
CAPTION_LIMIT = 1024

ONLY_COORDINATORS = N_("Only coordinators can see and change the roster.")
ONLY_MEMBERS = N_("Only registered, approved users can see who is on call.")
NOTHING_CHANGED = N_("Closed. Nothing was changed.")
NO_SPECIALISTS = N_("No approved specialist offers {specialty} yet.")


# -- access to the roster services ------------------------------------------------------


def roster_csv(ctx: Ctx) -> RosterCsv:
    """CSV import/export over the roster service (a stateless façade; no wiring needed)."""
    return RosterCsv(ctx.services.rosters)


def coverage_service(services: Services) -> CoverageService:
    """Coverage over the roster service (a stateless façade; no wiring needed)."""
    return CoverageService(services.rosters)


async def _coordinator(update: Update, ctx: Ctx) -> tuple[Translator, UserView | None]:
    """The translator, and the sender if they may change rosters (else None)."""
    tr, user = await speaker(update, ctx)
    return tr, user if user is not None and user.can_approve else None


# -- /oncall ----------------------------------------------------------------------------


async def oncall(update: Update, ctx: Ctx) -> None:
    """Who is on call now, per specialty: names only (no phone numbers, no ids)."""
    tr, user = await speaker(update, ctx)
    message = update.effective_message
    if message is None:
        return
    if user is None or not user.is_active:
        await message.reply_text(tr._(ONLY_MEMBERS))
        return
    services = ctx.services
    now = services.clock.now()
    offered = await coverage_service(services).offered_specialties()
    lines = [
        tr._(
            "On call now ({time}):",
            time=services.rosters.local(now).strftime("%H:%M"),
        ),
        "",
    ]
    nobody: list[str] = []
    for code, label in SPECIALTIES.items():
        people = await services.rosters.on_call(code, now)
        if people:
            names = ", ".join(p.full_name for p in people)
            lines.append(tr._("{specialty}: {names}", specialty=tr._(label), names=names))
        elif code in offered:
            nobody.append(tr._(label))
    if len(lines) == 2:
        lines.append(tr._("Nobody is on call right now."))
    if nobody:
        lines += ["", tr._("Nobody on call: {specialties}", specialties=", ".join(nobody))]
    await message.reply_text("\n".join(lines))


# -- /roster: the picture ---------------------------------------------------------------


def _menu(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(tr._("➕ Weekly shift"), callback_data=callbacks.make(WEEKLY))],
            [
                InlineKeyboardButton(
                    tr._("📅 One-day change"), callback_data=callbacks.make(OVERRIDE)
                )
            ],
            [InlineKeyboardButton(tr._("🗑 Remove a shift"), callback_data=callbacks.make(REMOVE))],
        ]
    )


async def picture(services: Services, tr: Translator) -> tuple[bytes, Coverage]:
    """This week's roster (Monday to Sunday, roster time zone) as a PNG."""
    coverage = coverage_service(services)
    week = await coverage.coverage(start=coverage.week_start(), days=7)
    labels = roster_picture.localised(tr._, SPECIALTIES)
    png = await asyncio.to_thread(roster_picture.render, week, labels)
    return png, week


def _caption(tr: Translator, week: Coverage) -> str:
    gaps = sum(len(g) for g in week.gaps.values())
    text = tr._("This week's on-call roster (times in {zone}).", zone=week.zone)
    if gaps:
        text += "\n" + tr.ngettext(
            "⚠️ {n} gap in coverage (hatched red).",
            "⚠️ {n} gaps in coverage (hatched red).",
            gaps,
        )
    text += "\n" + tr._("Change it with the buttons, or send /roster_csv to edit a spreadsheet.")
    return text[:CAPTION_LIMIT]


async def roster(update: Update, ctx: Ctx) -> None:
    """``/roster``: the week as a picture with the change buttons (coordinators only)."""
    tr, user = await _coordinator(update, ctx)
    message = update.effective_message
    if message is None:
        return
    if user is None:
        await message.reply_text(tr._(ONLY_COORDINATORS))
        return
    png, week = await picture(ctx.services, tr)
    await message.reply_photo(
        InputFile(png, filename="roster.png"),
        caption=_caption(tr, week),
        reply_markup=_menu(tr),
    )


# -- the button dialogues ---------------------------------------------------------------


def _cancel_row(tr: Translator) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(tr._("✖ Close"), callback_data=callbacks.make(CLOSE))]


def _grid(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def _day_names(tr: Translator) -> list[str]:
    names = get_day_names("wide", locale=tr.locale)
    return [str(names[i]) for i in range(7)]


def _short_day(tr: Translator, weekday: int) -> str:
    return str(get_day_names("abbreviated", locale=tr.locale)[weekday])


def _date_label(tr: Translator, day: date) -> str:
    return f"{_short_day(tr, day.weekday())} {day:%d/%m}"


def _specialty_keyboard(tr: Translator, kind: str, codes: list[str]) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(tr._(SPECIALTIES[code]), callback_data=callbacks.make(kind, code))
        for code in codes
    ]
    return InlineKeyboardMarkup([*_grid(buttons, 2), _cancel_row(tr)])


def _hour_keyboard(
    tr: Translator, prefix: tuple[str, ...], hours: list[int], start: int | None
) -> InlineKeyboardMarkup:
    buttons = []
    for hour in hours:
        label = format_hhmm(hour * 60)
        if start is not None and hour <= start:
            label += " (+1)"  # ends the next day
        buttons.append(
            InlineKeyboardButton(label, callback_data=callbacks.make(prefix[0], *prefix[1:], hour))
        )
    return InlineKeyboardMarkup([*_grid(buttons, 4), _cancel_row(tr)])


class _Stale(Exception):
    """A tap whose data is malformed, forged or out of date."""


def _args(data: str | None) -> tuple[str, list[str]]:
    if not data:
        raise _Stale
    kind, *args = data.split(":")
    if kind not in (WEEKLY, OVERRIDE, REMOVE, CLOSE) or not all(args) or len(args) > 6:
        raise _Stale
    return kind, args


def _specialty(code: str) -> str:
    if code not in SPECIALTIES:
        raise _Stale
    return code


def _int(text: str, low: int, high: int) -> int:
    if not text.isdigit() or len(text) > 12 or not low <= int(text) <= high:
        raise _Stale
    return int(text)


async def _specialist(ctx: Ctx, text: str) -> UserView:
    who = await ctx.services.directory.by_id(_int(text, 1, 10**11))
    if who is None or who.role is not Role.SPECIALIST or not who.is_active:
        raise _Stale
    return who


def _override_date(ctx: Ctx, text: str) -> date:
    if len(text) != 8 or not text.isdigit():
        raise _Stale
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise _Stale from None
    today = ctx.services.rosters.local(ctx.services.clock.now()).date()
    if not 0 <= (day - today).days <= OVERRIDE_HORIZON:
        raise _Stale
    return day


async def roster_button(update: Update, ctx: Ctx) -> None:
    """Every tap of the roster dialogues: re-check the role, validate, ask the next step."""
    query = update.callback_query
    if query is None:
        return
    tr, user = await _coordinator(update, ctx)
    if user is None:
        await alert(update, tr, ONLY_COORDINATORS)
        return
    try:
        kind, args = _args(query.data)
        if kind == CLOSE:
            await query.answer()
            await _show(query, tr._(NOTHING_CHANGED), None)
        elif kind == WEEKLY:
            await _weekly(ctx, tr, user, query, args)
        elif kind == OVERRIDE:
            await _override(ctx, tr, user, query, args)
        else:
            await _remove(ctx, tr, user, query, args)
    except _Stale:
        await alert(update, tr)


async def _begin(ctx: Ctx, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """A dialogue starts in a message of its own; the picture keeps its buttons."""
    await ctx.bot.send_message(query.from_user.id, text[:TEXT_LIMIT], reply_markup=markup)


async def _show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the dialogue message: a caption on the picture, text elsewhere."""
    try:
        if query.message is not None and getattr(query.message, "photo", None):
            await query.edit_message_caption(caption=text[:CAPTION_LIMIT], reply_markup=markup)
        else:
            await query.edit_message_text(text[:TEXT_LIMIT], reply_markup=markup)
    except TelegramError as exc:  # "message is not modified" on a double tap, and the like
        log.info("roster dialogue not edited", extra={"error": type(exc).__name__})


async def _choose_specialist(
    ctx: Ctx, tr: Translator, query: CallbackQuery, kind: str, code: str, heading: str
) -> None:
    people = await ctx.services.directory.specialists_for(code)
    label = tr._(SPECIALTIES[code])
    if not people:
        await query.answer(tr._(NO_SPECIALISTS, specialty=label), show_alert=True)
        return
    buttons = [
        InlineKeyboardButton(p.full_name[:60], callback_data=callbacks.make(kind, code, p.id))
        for p in people[:30]
    ]
    await query.answer()
    await _show(
        query,
        heading + "\n" + tr._("Specialty: {value}", value=label) + "\n\n" + tr._("Who?"),
        InlineKeyboardMarkup([*_grid(buttons, 1), _cancel_row(tr)]),
    )


async def _specialty_and_specialist(
    ctx: Ctx, tr: Translator, query: CallbackQuery, kind: str, heading: str, args: list[str]
) -> tuple[str, UserView, list[str]] | None:
    """The first two steps every roster dialogue shares; None while they are being asked."""
    if not args:
        await query.answer()
        await _begin(
            ctx,
            query,
            heading + "\n\n" + tr._("Which specialty?"),
            _specialty_keyboard(tr, kind, list(SPECIALTIES)),
        )
        return None
    code = _specialty(args[0])
    if len(args) == 1:
        await _choose_specialist(ctx, tr, query, kind, code, heading)
        return None
    who = await _specialist(ctx, args[1])
    summary = [
        heading,
        tr._("Specialty: {value}", value=tr._(SPECIALTIES[code])),
        tr._("Specialist: {value}", value=who.full_name),
    ]
    return code, who, summary


async def _weekly(
    ctx: Ctx, tr: Translator, user: UserView, query: CallbackQuery, args: list[str]
) -> None:
    """``rs`` → specialty → specialist → weekday → from hour → to hour → saved."""
    heading = tr._("New weekly shift")
    first = await _specialty_and_specialist(ctx, tr, query, WEEKLY, heading, args)
    if first is None:
        return
    code, who, summary = first
    if len(args) == 2:
        names = _day_names(tr)
        buttons = [
            InlineKeyboardButton(names[d], callback_data=callbacks.make(WEEKLY, code, who.id, d))
            for d in range(7)
        ]
        await query.answer()
        await _show(
            query,
            "\n".join(summary) + "\n\n" + tr._("Which day of the week?"),
            InlineKeyboardMarkup([*_grid(buttons, 2), _cancel_row(tr)]),
        )
        return
    day = _int(args[2], 0, 6)
    summary.append(tr._("Every: {value}", value=_day_names(tr)[day]))
    prefix = (WEEKLY, code, str(who.id), str(day))
    if len(args) == 3:
        await query.answer()
        await _show(
            query,
            "\n".join(summary) + "\n\n" + tr._("From what time?"),
            _hour_keyboard(tr, prefix, list(range(24)), None),
        )
        return
    start = _int(args[3], 0, 23)
    summary.append(tr._("From: {value}", value=format_hhmm(start * 60)))
    if len(args) == 4:
        await query.answer()
        await _show(
            query,
            "\n".join(summary) + "\n\n" + tr._("Until what time?"),
            _hour_keyboard(tr, (*prefix, str(start)), _ends(start), start),
        )
        return
    end = _int(args[4], 1, 24)
    if end == start or len(args) > 5:
        raise _Stale
    when = tr._(
        "every {day}, {start}–{end}",
        day=_day_names(tr)[day],
        start=format_hhmm(start * 60),
        end=format_hhmm(end * 60),
    )
    try:
        await ctx.services.rosters.add_weekly(
            who.id,
            code,
            day,
            format_hhmm(start * 60),
            format_hhmm(end * 60),
            actor=user.telegram_id,
            if_absent=True,
        )
    except DuplicateShift:
        await query.answer(tr._("This shift is already in the roster."), show_alert=True)
        return
    except RosterError:
        raise _Stale from None
    await query.answer()
    await _show(query, _added(tr, who, code, when), None)


def _ends(start: int) -> list[int]:
    """End hours after ``start``, then those of the next morning (crossing midnight)."""
    return [h for h in range(start + 1, 25)] + [h for h in range(1, start) if h != start]


def _added(tr: Translator, who: UserView, code: str, when: str) -> str:
    return (
        tr._(
            "✅ Added: {name}, {specialty}, {when}.",
            name=who.full_name,
            specialty=tr._(SPECIALTIES[code]),
            when=when,
        )
        + "\n"
        + tr._("Send /roster to see the new week.")
    )


async def _override(
    ctx: Ctx, tr: Translator, user: UserView, query: CallbackQuery, args: list[str]
) -> None:
    """``ro`` → specialty → specialist → date → on/off → from hour → to hour → saved."""
    heading = tr._("One-day change")
    first = await _specialty_and_specialist(ctx, tr, query, OVERRIDE, heading, args)
    if first is None:
        return
    code, who, summary = first
    if len(args) == 2:
        today = ctx.services.rosters.local(ctx.services.clock.now()).date()
        days = [today + timedelta(days=n) for n in range(OVERRIDE_DAYS)]
        buttons = [
            InlineKeyboardButton(
                _date_label(tr, d),
                callback_data=callbacks.make(OVERRIDE, code, who.id, f"{d:%Y%m%d}"),
            )
            for d in days
        ]
        await query.answer()
        await _show(
            query,
            "\n".join(summary) + "\n\n" + tr._("Which date?"),
            InlineKeyboardMarkup([*_grid(buttons, 3), _cancel_row(tr)]),
        )
        return
    day = _override_date(ctx, args[2])
    stamp = f"{day:%Y%m%d}"
    summary.append(tr._("Date: {value}", value=_date_label(tr, day)))
    if len(args) == 3:
        buttons = [
            InlineKeyboardButton(
                tr._("On call (extra cover)"),
                callback_data=callbacks.make(OVERRIDE, code, who.id, stamp, "a"),
            ),
            InlineKeyboardButton(
                tr._("Off (leave)"),
                callback_data=callbacks.make(OVERRIDE, code, who.id, stamp, "x"),
            ),
        ]
        await query.answer()
        await _show(
            query,
            "\n".join(summary) + "\n\n" + tr._("On call or off?"),
            InlineKeyboardMarkup([*_grid(buttons, 1), _cancel_row(tr)]),
        )
        return
    if args[3] not in ("a", "x"):
        raise _Stale
    available = args[3] == "a"
    summary.append(tr._("On call (extra cover)") if available else tr._("Off (leave)"))
    prefix = (OVERRIDE, code, str(who.id), stamp, args[3])
    if len(args) == 4:
        await query.answer()
        await _show(
            query,
            "\n".join(summary) + "\n\n" + tr._("From what time?"),
            _hour_keyboard(tr, prefix, list(range(24)), None),
        )
        return
    start = _int(args[4], 0, 23)
    summary.append(tr._("From: {value}", value=format_hhmm(start * 60)))
    if len(args) == 5:
        await query.answer()
        await _show(
            query,
            "\n".join(summary) + "\n\n" + tr._("Until what time?"),
            _hour_keyboard(tr, (*prefix, str(start)), _ends(start), start),
        )
        return
    end = _int(args[5], 1, 24)
    if end == start:
        raise _Stale
    when = tr._(
        "{date}, {start}–{end}",
        date=_date_label(tr, day),
        start=format_hhmm(start * 60),
        end=format_hhmm(end * 60),
    )
    if not available:
        when += " " + tr._("(off call)")
    try:
        await ctx.services.rosters.add_override(
            who.id,
            code,
            day,
            format_hhmm(start * 60),
            format_hhmm(end * 60),
            available=available,
            actor=user.telegram_id,
            if_absent=True,
        )
    except DuplicateShift:
        await query.answer(tr._("This shift is already in the roster."), show_alert=True)
        return
    except RosterError:
        raise _Stale from None
    await query.answer()
    await _show(query, _added(tr, who, code, when), None)


def _describe(tr: Translator, view: ShiftView) -> str:
    if view.weekday is not None:
        when = _short_day(tr, view.weekday)
    else:
        when = _date_label(tr, date.fromisoformat(view.on_date or "2000-01-01"))
    text = f"{when} {view.start}–{view.end} {view.specialist_name}"
    if not view.available:
        text += " " + tr._("(off call)")
    return text


async def _upcoming(ctx: Ctx, code: str) -> list[ShiftView]:
    today = ctx.services.rosters.local(ctx.services.clock.now()).date().isoformat()
    return [
        v
        for v in await ctx.services.rosters.list_shifts(code)
        if v.on_date is None or v.on_date >= today
    ]


async def _remove(
    ctx: Ctx, tr: Translator, user: UserView, query: CallbackQuery, args: list[str]
) -> None:
    """``rx`` → specialty → shift → confirm → removed."""
    heading = tr._("Remove a shift")
    if not args:
        codes = sorted({v.specialty for v in await ctx.services.rosters.list_shifts()})
        ordered = [c for c in SPECIALTIES if c in codes]
        if not ordered:
            await query.answer(tr._("The roster is empty."), show_alert=True)
            return
        await query.answer()
        await _begin(
            ctx,
            query,
            heading + "\n\n" + tr._("Which specialty?"),
            _specialty_keyboard(tr, REMOVE, ordered),
        )
        return
    code = _specialty(args[0])
    if len(args) == 1:
        shifts = await _upcoming(ctx, code)
        if not shifts:
            await query.answer(tr._("The roster is empty."), show_alert=True)
            return
        buttons = [
            InlineKeyboardButton(
                _describe(tr, v)[:60], callback_data=callbacks.make(REMOVE, code, v.id)
            )
            for v in shifts[:LIST_LIMIT]
        ]
        text = heading + "\n" + tr._("Specialty: {value}", value=tr._(SPECIALTIES[code]))
        if len(shifts) > LIST_LIMIT:
            text += "\n" + tr._(
                "Only the first {n} are shown; use /roster_csv for the rest.", n=LIST_LIMIT
            )
        await query.answer()
        await _show(
            query,
            text + "\n\n" + tr._("Which shift?"),
            InlineKeyboardMarkup([*_grid(buttons, 1), _cancel_row(tr)]),
        )
        return
    shift_id = _int(args[1], 1, 10**15)
    by_id = {v.id: v for v in await ctx.services.rosters.list_shifts(code)}
    view = by_id.get(shift_id)
    if view is None or len(args) > 3 or (len(args) == 3 and args[2] != "y"):
        raise _Stale
    if len(args) == 2:
        await query.answer()
        await _show(
            query,
            heading + "\n\n" + tr._("Remove {shift}?", shift=_describe(tr, view)),
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            tr._("🗑 Remove"),
                            callback_data=callbacks.make(REMOVE, code, view.id, "y"),
                        )
                    ],
                    _cancel_row(tr),
                ]
            ),
        )
        return
    await ctx.services.rosters.remove(view.id, actor=user.telegram_id)
    await query.answer()
    await _show(
        query,
        tr._("🗑 Removed: {shift}.", shift=_describe(tr, view))
        + "\n"
        + tr._("Send /roster to see the new week."),
        None,
    )


# -- CSV ---------------------------------------------------------------------------------


async def roster_csv_command(update: Update, ctx: Ctx) -> None:
    """``/roster_csv``: the roster as a CSV document (weekly shifts, overrides from today)."""
    tr, user = await _coordinator(update, ctx)
    message = update.effective_message
    if message is None:
        return
    if user is None:
        await message.reply_text(tr._(ONLY_COORDINATORS))
        return
    csvs = roster_csv(ctx)
    today = csvs.today()
    data = await csvs.export_csv(since=today)
    await message.reply_document(
        InputFile(data, filename=f"roster-{today.isoformat()}.csv"),
        caption=tr._(
            "The roster as a spreadsheet. Edit it and send the file back to me: the weekly "
            "shifts of each specialty in the file are replaced, one-day changes are added."
        ),
    )


def is_csv(file_name: str | None, mime_type: str | None) -> bool:
    return (file_name or "").lower().endswith(".csv") or (mime_type or "") in (
        "text/csv",
        "text/comma-separated-values",
    )


async def csv_upload(update: Update, ctx: Ctx) -> None:
    """A ``.csv`` document: a coordinator's roster; anyone else's goes where files go."""
    message = update.effective_message
    document = message.document if message is not None else None
    tr, user = await _coordinator(update, ctx)
    if message is None or document is None:
        return
    if user is None or not is_csv(document.file_name, document.mime_type):
        await files.incoming(update, ctx)
        return
    if (document.file_size or 0) > MAX_BYTES:
        await message.reply_text(
            _failure_text(tr, [CsvProblem(0, None, TOO_LARGE, {"limit": MAX_BYTES // 1000})])
        )
        return
    telegram_file = await ctx.bot.get_file(document.file_id)
    data = bytes(await telegram_file.download_as_bytearray())
    result = await roster_csv(ctx).import_csv(data, actor=user.telegram_id)
    if not result.ok:
        await message.reply_text(_failure_text(tr, list(result.problems)))
        return
    await message.reply_text(_success_text(tr, result))


def problem_text(tr: Translator, problem: CsvProblem) -> str:
    """One problem in the reader's language, with its line and column."""
    what = tr._(problem.message, **problem.values)
    if problem.line == 0:
        return what
    if problem.column is None:
        return tr._("Line {line}: {problem}", line=problem.line, problem=what)
    return tr._(
        "Line {line}, column {column}: {problem}",
        line=problem.line,
        column=problem.column,
        problem=what,
    )


def _failure_text(tr: Translator, problems: list[CsvProblem]) -> str:
    lines = [
        tr.ngettext(
            "❌ Nothing was changed: the file has {n} problem.",
            "❌ Nothing was changed: the file has {n} problems.",
            len(problems),
        ),
        "",
    ]
    shown = 0
    for problem in problems[:PROBLEMS_SHOWN]:
        line = "• " + problem_text(tr, problem)
        if sum(len(x) + 1 for x in lines) + len(line) > TEXT_LIMIT - 200:
            break
        lines.append(line)
        shown += 1
    if shown < len(problems):
        lines.append(tr._("… and {n} more.", n=len(problems) - shown))
    lines += ["", tr._("Correct the file and send it again.")]
    return "\n".join(lines)


def _success_text(tr: Translator, result: ImportResult) -> str:
    names = ", ".join(tr._(SPECIALTIES[c]) for c in result.specialties)
    lines = [tr._("✅ Roster applied.")]
    lines.append(
        tr.ngettext("{n} weekly shift", "{n} weekly shifts", result.weekly)
        + (f" ({names})" if names else "")
    )
    lines.append(tr.ngettext("{n} override added", "{n} overrides added", result.overrides))
    if result.overrides_present:
        lines.append(
            tr.ngettext(
                "{n} override was already there",
                "{n} overrides were already there",
                result.overrides_present,
            )
        )
    lines.append(tr._("Send /roster to see the new week."))
    return "\n".join(lines)


# -- daily coverage gaps ------------------------------------------------------------------


def gap_text(tr: Translator, coverage: Coverage, *, limit: int = 8) -> str:
    """The coming days' gaps per specialty, in the reader's language."""
    if not coverage.has_gaps:
        return tr._("✅ No gaps in the on-call roster for the next {n} days.", n=coverage.days)
    lines = [
        tr._(
            "⚠️ Gaps in the on-call roster for the next {n} days (times in {zone}):",
            n=coverage.days,
            zone=coverage.zone,
        )
    ]
    for code in coverage.specialties:
        gaps = coverage.gaps.get(code, [])
        if not gaps:
            continue
        spans = [_span(tr, g.start, g.end) for g in gaps[:limit]]
        if len(gaps) > limit:
            spans.append(tr._("… and {n} more.", n=len(gaps) - limit))
        lines.append("")
        lines.append(tr._(SPECIALTIES[code]) + ":")
        lines += ["• " + s for s in spans]
    lines += ["", tr._("Send /roster to fill them.")]
    text = "\n".join(lines)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _span(tr: Translator, start: datetime, end: datetime) -> str:
    """``Mon 23/11 20:00–24:00``, or ``Sat 28/11 20:00 – Mon 30/11 08:00`` across days."""
    head = f"{_short_day(tr, start.weekday())} {start:%d/%m %H:%M}"
    if end.date() == start.date():
        return f"{head}–{end:%H:%M}"
    if end == datetime.combine(start.date() + timedelta(days=1), datetime.min.time()):
        return f"{head}–24:00"
    return f"{head} – {_short_day(tr, end.weekday())} {end:%d/%m %H:%M}"


class TelegramGapNotifier:
    """``bot.cases.coverage.GapNotifier``: one message per coordinator in their language.

    The messages go through the outbox (rate limits, retries, 403 → unreachable), one per
    coordinator and window start (dedupe key), so a second run the same day sends nothing.
    """

    def __init__(self, catalogs: Catalogs, directory: Directory, outbox: Outbox) -> None:
        self.catalogs = catalogs
        self.directory = directory
        self.outbox = outbox

    async def coverage_gaps(self, coverage: Coverage, coordinators: list[UserView]) -> int:
        """Queue the gap message for each reachable coordinator; returns how many were new."""
        messages = [
            Message(
                person.telegram_id,
                "sendMessage",
                {"text": gap_text(self.catalogs.get(person.language), coverage)},
                Priority.ALERT,
                dedupe_key=f"gaps:{coverage.start:%Y%m%d}:{person.id}",
            )
            for person in coordinators
            if person.reachable
        ]
        return await self.outbox.enqueue(messages)


async def report_gaps(services: Services, *, days: int = 7) -> int:
    """Send the next ``days`` days' gaps to every active coordinator; returns how many got it.

    For a scheduler that is not the durable timer (``DailyGaps``), or to send by hand.
    """
    coverage = coverage_service(services)
    report = await coverage.coverage(days=days)
    notifier = TelegramGapNotifier(services.catalogs, services.directory, services.outbox)
    return await notifier.coverage_gaps(report, await coverage.coordinators())


def handlers() -> list[BaseHandler[Update, Any, Any]]:
    """The roster handlers, to be placed before the catch-alls of group 0.

    The ``.csv`` document handler must come before ``files.incoming``; documents that are
    not a coordinator's CSV are handed on to ``files.incoming``.
    """
    private = filters.ChatType.PRIVATE
    csv_document = filters.Document.FileExtension("csv") | filters.Document.MimeType("text/csv")
    return [
        CommandHandler("oncall", oncall, filters=private),
        CommandHandler("roster", roster, filters=private),
        CommandHandler("roster_csv", roster_csv_command, filters=private),
        CallbackQueryHandler(roster_button, pattern=PATTERN),
        MessageHandler(private & csv_document, csv_upload, block=False),
    ]
