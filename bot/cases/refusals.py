"""Why a report, acknowledgement, question or read was refused (nothing was changed).

Also the rules for free text shared by reports and questions.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import answers
from bot.storage.models import Case

#: Control characters kept in free text; every other one (NUL above all, which
#: PostgreSQL cannot store) is invisible and dropped.
_KEPT_CONTROLS = frozenset("\n\r\t")


class RefusalReason(StrEnum):
    UNKNOWN_CASE = "unknown_case"  # no such case (forged or stale button)
    NOT_YOURS = "not_yours"  # not this person's case, wrong role, or inactive account
    NOT_OPEN = "not_open"  # the case is not in a state that allows this
    ALREADY_REPORTED = "already_reported"  # the case already has a signed report
    NO_REGISTRATION = "no_registration"  # a specialist without a registration number
    NO_DRAFT = "no_draft"  # no report being written (stale button)
    INCOMPLETE = "incomplete"  # sign before every field of the report was answered
    NOT_REPORTED = "not_reported"  # no report yet
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    EMPTY = "empty"  # a question without text
    TOO_LONG = "too_long"
    UNKNOWN_ATTACHMENT = "unknown_attachment"  # not a processed file of this case
    ALREADY_RELAYED = "already_relayed"  # this file was relayed before


@dataclass(frozen=True)
class Refusal:
    """A refused request; ``case_code`` only for people entitled to know the case."""

    reason: RefusalReason
    case_code: str | None = None


async def lock_case(session: AsyncSession, case_id: int) -> bool:
    """Serialise work on one case (row lock on PostgreSQL, write lock on SQLite).

    The same no-op UPDATE the offer service uses, so reports, questions, accepts and
    timers of one case never interleave. False if there is no such case.
    """
    result = await session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(escalation_level=Case.escalation_level)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def free_text(text: str, limit: int) -> str:
    """Typed text as written: invisible control characters dropped, trimmed, 1–``limit``
    characters (else ``ValueError('empty' | 'too_long')``)."""
    visible = "".join(ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) != "Cc")
    return answers.clean_text(visible, limit)
