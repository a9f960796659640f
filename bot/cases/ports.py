"""What the case services need from the outside world, as protocols.

Services never import ``telegram``: the handler layer implements ``CaseNotifier`` (it
renders each event in the reader's language and sends it) and the composition root
injects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.accounts.directory import UserView
from bot.cases.views import CaseView


@dataclass(frozen=True)
class MessageRef:
    """Where a sent message lives, so it can be edited later (e.g. an offer withdrawn)."""

    chat_id: int
    message_id: int


class Queued:
    """The message waits in the outbox: its ``MessageRef`` arrives later, when it is sent
    (``OfferService.offer_sent``), or the offer is settled as undelivered then."""

    def __repr__(self) -> str:
        return "QUEUED"


QUEUED = Queued()


class WithdrawReason(StrEnum):
    TAKEN = "taken"  # another specialist accepted first
    EXPIRED = "expired"  # nobody answered in time; offered to someone else
    CANCELLED = "cancelled"  # the health worker or a coordinator cancelled the case


class EscalationReason(StrEnum):
    NO_ACCEPT = "no_accept"  # offered to everyone on call, nobody accepted in time
    NOBODY_ON_CALL = "nobody_on_call"


class CaseNotifier(Protocol):
    async def offer(self, case: CaseView, specialist: UserView) -> MessageRef | Queued | None:
        """Show the case card with Accept / Decline; None if it could not be delivered,
        ``QUEUED`` if it will be sent later (the ref then comes through a receipt)."""
        ...

    async def offer_withdrawn(
        self, case: CaseView, specialist: UserView, ref: MessageRef, reason: WithdrawReason
    ) -> None:
        """Edit an earlier offer so its buttons are gone and say why."""
        ...

    async def case_accepted(
        self, case: CaseView, specialist: UserView, health_worker: UserView
    ) -> None:
        """Tell the health worker a specialist took the case (no identity beyond the name)."""
        ...

    async def escalated(
        self, case: CaseView, coordinators: list[UserView], reason: EscalationReason
    ) -> None:
        """Alert coordinators that a case needs someone to assign it by hand."""
        ...

    async def nobody_on_call(self, case: CaseView, health_worker: UserView) -> None:
        """Tell the health worker honestly that nobody is on call and what happens next."""
        ...
