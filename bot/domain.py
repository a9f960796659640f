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
