"""Questions and answers relayed between a case's specialist and its health worker.

Threaded by case code; neither side learns the other's Telegram identity: a ``Relay``
names the recipient for the handler only, and the message is labelled with the case code
and the author's role. A specialist's question moves the case to ``awaiting_info``; the
health worker's answer moves it back to ``accepted``. Work on a case happens under the
case lock, so questions, answers and signing never interleave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.accounts.access import may_see_case
from bot.accounts.directory import UserView, user_view
from bot.cases import states
from bot.cases.refusals import Refusal, RefusalReason, free_text, lock_case
from bot.cases.views import CaseView, case_view
from bot.clock import Clock
from bot.domain import CaseStatus, Role, Status
from bot.storage import audit
from bot.storage.database import Database
from bot.storage.models import Attachment, Case, CaseMessage, User

MAX_TEXT = 2000


@dataclass(frozen=True)
class Relay:
    """Send ``text`` (or the attachment) to ``recipient``, labelled with code and role only."""

    case: CaseView
    recipient: UserView
    author_role: Role  # Role.SPECIALIST or Role.HEALTH_WORKER
    text: str | None
    message_id: int
    attachment_id: int | None = None


@dataclass(frozen=True)
class MessageView:
    """One message of a case's thread: no names, no Telegram ids."""

    id: int
    case_code: str
    author_role: Role
    text: str | None
    attachment_id: int | None
    created_at: datetime
    mine: bool  # written by the person viewing the thread


class QuestionService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def ask(self, author_telegram_id: int, case_id: int, text: str) -> Relay | Refusal:
        """A question from the specialist, or an answer from the health worker."""
        try:
            cleaned = free_text(text, MAX_TEXT)
        except ValueError as exc:
            return Refusal(RefusalReason(str(exc)))
        return await self._relay(author_telegram_id, case_id, text=cleaned)

    async def attach(
        self, author_telegram_id: int, case_id: int, attachment_id: int
    ) -> Relay | Refusal:
        """Relay a file already stored for this case (by ``AttachmentService``); once."""
        return await self._relay(author_telegram_id, case_id, attachment_id=attachment_id)

    async def thread(self, viewer_telegram_id: int, case_id: int) -> list[MessageView] | Refusal:
        """The case's questions and answers, oldest first, for the health worker, the
        assigned specialist, a coordinator of the district or an admin; audited."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            case = await session.get(Case, case_id)
            if case is None:
                return Refusal(RefusalReason.UNKNOWN_CASE)
            user = await _user(session, viewer_telegram_id)
            if user is None or not may_see_case(user, case):
                _refused(session, now, "case.thread", viewer_telegram_id, case_id, "not_yours")
                return Refusal(RefusalReason.NOT_YOURS)
            rows = await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.case_id == case.id)
                .order_by(CaseMessage.created_at, CaseMessage.id)
            )
            audit.record(session, now, "case.thread", actor=viewer_telegram_id, subject=_s(case))
            return [
                MessageView(
                    id=m.id,
                    case_code=case.code,
                    author_role=_role_in(case, m.author_id),
                    text=m.text,
                    attachment_id=m.attachment_id,
                    created_at=m.created_at,
                    mine=m.author_id == user.id,
                )
                for m in rows
            ]

    # ------------------------------------------------------------------ internals

    async def _relay(
        self,
        author_telegram_id: int,
        case_id: int,
        *,
        text: str | None = None,
        attachment_id: int | None = None,
    ) -> Relay | Refusal:
        now = self.clock.now()
        action = "case.question_file" if attachment_id is not None else "case.question"
        async with self.db.transaction() as session:
            if not await lock_case(session, case_id):
                return Refusal(RefusalReason.UNKNOWN_CASE)
            case = await session.get(Case, case_id, populate_existing=True)
            assert case is not None
            author = await _user(session, author_telegram_id)
            role = _participant(author, case)
            refusal: Refusal | None = None
            if author is None or role is None:
                refusal = Refusal(RefusalReason.NOT_YOURS)
            elif case.status not in states.OPEN_FOR_SPECIALIST:
                refusal = Refusal(RefusalReason.NOT_OPEN, case.code)
            elif attachment_id is not None:
                refusal = await _check_attachment(session, case, attachment_id)
            if refusal is not None:
                _refused(session, now, action, author_telegram_id, case_id, refusal.reason)
                return refusal
            assert author is not None
            assert role is not None
            target = _target(role, CaseStatus(case.status))
            if target is not None:
                states.check(case.status, target)
                moved = await session.execute(
                    update(Case)
                    .where(Case.id == case.id, Case.status == case.status)
                    .values(status=target, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]  # locked: cannot happen
                    return Refusal(RefusalReason.NOT_OPEN, case.code)
            message = CaseMessage(
                case_id=case.id,
                author_id=author.id,
                text=text,
                attachment_id=attachment_id,
                created_at=now,
            )
            session.add(message)
            await session.flush()
            await session.refresh(case)
            recipient_id = (
                case.specialist_id if role is Role.HEALTH_WORKER else case.health_worker_id
            )
            recipient = await session.get(User, recipient_id)
            assert recipient is not None
            audit.record(
                session,
                now,
                action,
                actor=author_telegram_id,
                subject=_s(case),
                message=message.id,
                role=role.value,
                status=case.status,
            )
            return Relay(
                case=case_view(case),
                recipient=user_view(recipient),
                author_role=role,
                text=text,
                message_id=message.id,
                attachment_id=attachment_id,
            )


def _participant(user: User | None, case: Case) -> Role | None:
    """The user's part in this case's conversation: specialist, health worker, or none."""
    if user is None:
        return None
    if user.role == Role.SPECIALIST and case.specialist_id == user.id:
        return Role.SPECIALIST
    if user.role == Role.HEALTH_WORKER and case.health_worker_id == user.id:
        return Role.HEALTH_WORKER
    return None


def _target(role: Role, status: CaseStatus) -> CaseStatus | None:
    """Where a message moves the case: a question waits for information, an answer ends
    the wait; a second question or unprompted information leaves the status as it is."""
    if role is Role.SPECIALIST and status is CaseStatus.ACCEPTED:
        return CaseStatus.AWAITING_INFO
    if role is Role.HEALTH_WORKER and status is CaseStatus.AWAITING_INFO:
        return CaseStatus.ACCEPTED
    return None


def _role_in(case: Case, author_id: int) -> Role:
    return Role.HEALTH_WORKER if author_id == case.health_worker_id else Role.SPECIALIST


async def _check_attachment(
    session: AsyncSession, case: Case, attachment_id: int
) -> Refusal | None:
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id or attachment.status != "ready":
        return Refusal(RefusalReason.UNKNOWN_ATTACHMENT, case.code)
    relayed = await session.scalar(
        select(CaseMessage.id).where(CaseMessage.attachment_id == attachment_id).limit(1)
    )
    if relayed is not None:
        return Refusal(RefusalReason.ALREADY_RELAYED, case.code)
    return None


async def _user(session: AsyncSession, telegram_id: int) -> User | None:
    """The active user with this Telegram id, or None."""
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    return user if user is not None and user.status == Status.ACTIVE else None


def _refused(
    session: AsyncSession,
    now: datetime,
    action: str,
    actor: int,
    case_id: int,
    reason: RefusalReason | str,
) -> None:
    audit.record(
        session,
        now,
        f"{action}.refused",
        actor=actor,
        subject=f"case:{case_id}",
        reason=str(reason),
    )


def _s(case: Case) -> str:
    return f"case:{case.id}"
