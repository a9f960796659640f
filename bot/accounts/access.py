"""Who may see a case: one rule for reports, questions, links and the viewer."""

from __future__ import annotations

from bot.domain import Role, Status
from bot.storage.models import Case, User


def may_see_case(user: User, case: Case, *, specialist_id: int | None = None) -> bool:
    """Its health worker, its specialist, a coordinator of its district, or an admin.

    Active accounts only. ``specialist_id`` names the specialist when it is not the one
    assigned now (e.g. the one who signed the report).
    """
    if user.status != Status.ACTIVE:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.COORDINATOR:
        return user.district is not None and user.district == case.district
    if user.role == Role.HEALTH_WORKER:
        return user.id == case.health_worker_id
    if user.role == Role.SPECIALIST:
        specialist = specialist_id if specialist_id is not None else case.specialist_id
        return specialist is not None and user.id == specialist
    return False
