"""Read-only views of cases handed from services to handlers (no identifiers inside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain import CaseStatus, Urgency
from bot.storage.models import Case


@dataclass(frozen=True)
class CaseView:
    """What a specialist may see of a case: never the patient's name, phone or ABHA."""

    id: int
    code: str
    status: CaseStatus
    health_worker_id: int
    district: str | None
    specialty: str | None
    urgency: Urgency | None
    age_value: int | None
    age_unit: str | None
    sex: str | None
    complaint: str | None
    history: str | None
    vitals: dict[str, Any] = field(default_factory=dict)
    specialist_id: int | None = None
    submitted_at: datetime | None = None
    escalation_level: int = 0


def case_view(case: Case) -> CaseView:
    return CaseView(
        id=case.id,
        code=case.code,
        status=CaseStatus(case.status),
        health_worker_id=case.health_worker_id,
        district=case.district,
        specialty=case.specialty,
        urgency=Urgency(case.urgency) if case.urgency else None,
        age_value=case.age_value,
        age_unit=case.age_unit,
        sex=case.sex,
        complaint=case.complaint,
        history=case.history,
        vitals=dict(case.vitals or {}),
        specialist_id=case.specialist_id,
        submitted_at=case.submitted_at,
        escalation_level=case.escalation_level,
    )
