"""Inline keyboards, labelled in the reader's language; their data never depends on it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain import ROLE_LABELS, SPECIALTIES, Role
from bot.handlers import callbacks
from bot.i18n import LANGUAGE_NAMES, Translator


def _rows(buttons: Sequence[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def languages(available: Iterable[str]) -> InlineKeyboardMarkup:
    """Each language named in its own script."""
    buttons = [
        InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=callbacks.make("lang", code))
        for code in available
    ]
    return InlineKeyboardMarkup(_rows(buttons, 3))


def specialties(tr: Translator, selected: Iterable[str]) -> InlineKeyboardMarkup:
    chosen = set(selected)
    buttons = [
        InlineKeyboardButton(
            ("✅ " if code in chosen else "") + tr._(label),
            callback_data=callbacks.make("spec", code),
        )
        for code, label in SPECIALTIES.items()
    ]
    rows = _rows(buttons, 2)
    rows.append([InlineKeyboardButton(tr._("Done"), callback_data=callbacks.make("spec", "done"))])
    return InlineKeyboardMarkup(rows)


def approval(tr: Translator, user_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr._("Approve"), callback_data=callbacks.make("apv", "a", user_id)
                ),
                InlineKeyboardButton(
                    tr._("Reject"), callback_data=callbacks.make("apv", "r", user_id)
                ),
            ]
        ]
    )


def invite_roles(tr: Translator, roles: Iterable[Role]) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            tr._(ROLE_LABELS[role]), callback_data=callbacks.make("inv", role.value)
        )
        for role in roles
    ]
    return InlineKeyboardMarkup(_rows(buttons, 1))
