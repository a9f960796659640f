"""Who gets an offer: pure functions, no database (the offer service supplies the facts).

Order: least loaded first (cases they are working on), then those who share the health
worker's language, then user id so the choice is deterministic. Emergencies go to every
candidate at once; routine and urgent cases to one specialist at a time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from bot.domain import Urgency


@dataclass(frozen=True)
class Candidate:
    """An on-call specialist as routing sees them."""

    user_id: int
    language: str
    load: int  # cases in OPEN_FOR_SPECIALIST assigned to them


def rank(candidates: Iterable[Candidate], language: str | None) -> list[Candidate]:
    """Candidates best first; duplicates of a user id keep the first seen."""
    unique: dict[int, Candidate] = {}
    for candidate in candidates:
        unique.setdefault(candidate.user_id, candidate)
    return sorted(unique.values(), key=lambda c: (c.load, c.language != language, c.user_id))


def choose(
    candidates: Iterable[Candidate],
    *,
    language: str | None,
    urgency: Urgency | str | None,
    excluded: Collection[int] = (),
) -> list[Candidate]:
    """Whom to offer the case to now: everyone for emergencies, else the best one.

    ``excluded`` holds the user ids already offered this case (whatever they answered).
    An empty list means nobody is left.
    """
    ranked = rank((c for c in candidates if c.user_id not in excluded), language)
    if urgency == Urgency.EMERGENCY:
        return ranked
    return ranked[:1]
