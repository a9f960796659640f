"""The vocabulary every layer shares: roles, statuses, specialties."""

from __future__ import annotations

from enum import StrEnum

from bot.i18n import N_


class Role(StrEnum):
    HEALTH_WORKER = "health_worker"
    SPECIALIST = "specialist"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REJECTED = "rejected"


ROLE_LABELS: dict[Role, str] = {
    Role.HEALTH_WORKER: N_("Health worker"),
    Role.SPECIALIST: N_("Specialist"),
    Role.COORDINATOR: N_("Coordinator"),
    Role.ADMIN: N_("Administrator"),
}

#: Specialty codes (stable, used in callback data and rosters) and their labels.
SPECIALTIES: dict[str, str] = {
    "radiology": N_("Radiology"),
    "medicine": N_("General medicine"),
    "paediatrics": N_("Paediatrics"),
    "obgyn": N_("Obstetrics & gynaecology"),
    "dermatology": N_("Dermatology"),
    "cardiology": N_("Cardiology"),
    "orthopaedics": N_("Orthopaedics"),
    "pulmonology": N_("Chest & TB"),
    "ophthalmology": N_("Eye"),
    "ent": N_("ENT"),
    "surgery": N_("Surgery"),
    "psychiatry": N_("Mental health"),
}

#: Roles that may approve others and create invites in the bot.
APPROVERS = frozenset({Role.COORDINATOR, Role.ADMIN})


class CaseStatus(StrEnum):
    """The life of a case; ``bot.cases.states`` says which moves are legal."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    AWAITING_INFO = "awaiting_info"
    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class Referral(StrEnum):
    NONE = "none"
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


URGENCY_LABELS: dict[Urgency, str] = {
    Urgency.ROUTINE: N_("Routine"),
    Urgency.URGENT: N_("Urgent"),
    Urgency.EMERGENCY: N_("Emergency"),
}

REFERRAL_LABELS: dict[Referral, str] = {
    Referral.NONE: N_("No referral"),
    Referral.ROUTINE: N_("Routine referral"),
    Referral.URGENT: N_("Urgent referral"),
    Referral.EMERGENCY: N_("Emergency referral"),
}
