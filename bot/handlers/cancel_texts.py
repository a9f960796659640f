"""Why a health worker cancelled a case, in words (shared by ``/mycases`` and ``/cases``)."""

from __future__ import annotations

from bot.i18n import N_, Translator

REASONS: dict[str, str] = {
    "duplicate": N_("Duplicate case"),
    "elsewhere": N_("Patient went elsewhere"),
    "recovered": N_("Patient recovered"),
    "other": N_("Other reason"),
}


def reason_label(tr: Translator, reason: str | None) -> str:
    return tr._(REASONS.get(reason or "", REASONS["other"]))
