"""Case states and the only legal moves between them."""

from __future__ import annotations

from bot.domain import CaseStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.OFFERED, S.CANCELLED}),
    S.OFFERED: frozenset({S.OFFERED, S.ACCEPTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.AWAITING_INFO, S.REPORTED, S.OFFERED, S.CANCELLED}),
    S.AWAITING_INFO: frozenset({S.ACCEPTED, S.REPORTED, S.CANCELLED}),
    S.REPORTED: frozenset({S.ACKNOWLEDGED, S.CLOSED}),
    S.ACKNOWLEDGED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: Cases a specialist is working on (their load).
OPEN_FOR_SPECIALIST = frozenset({S.ACCEPTED, S.AWAITING_INFO})
#: Cases waiting for someone to accept them.
WAITING = frozenset({S.SUBMITTED, S.OFFERED})
#: Cases their health worker may still cancel (submitted, not yet reported).
CANCELLABLE = frozenset({S.SUBMITTED, S.OFFERED, S.ACCEPTED, S.AWAITING_INFO})


class IllegalTransition(Exception):
    def __init__(self, current: S, target: S) -> None:
        super().__init__(f"a case cannot go from {current} to {target}")
        self.current = current
        self.target = target


def check(current: S | str, target: S) -> None:
    """Raise ``IllegalTransition`` unless ``current`` → ``target`` is allowed."""
    current = S(current)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)


def allowed_from(target: S) -> frozenset[S]:
    """The states from which ``target`` may be reached (for conditional UPDATEs)."""
    return frozenset(state for state, targets in TRANSITIONS.items() if target in targets)
