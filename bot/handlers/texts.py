"""Messages that more than one handler shows, in the reader's language."""

from __future__ import annotations

from bot.accounts.directory import UserView
from bot.accounts.invites import InviteProblem
from bot.accounts.onboarding import Problem, Step
from bot.domain import ROLE_LABELS, SPECIALTIES, Role, Status
from bot.i18n import LANGUAGE_NAMES, N_, Translator

QUESTIONS: dict[Step, str] = {
    Step.FULL_NAME: N_("What is your full name?"),
    Step.QUALIFICATION: N_("What is your qualification? For example: MBBS, MD (Radiology)."),
    Step.REGISTRATION_NUMBER: N_(
        "What is your medical council registration number? For example: KMC 123456."
    ),
    Step.SPECIALTIES: N_("Which specialties do you cover? Tap all that apply, then Done."),
    Step.FACILITY: N_("What is the name of your health facility? For example: PHC Rampur."),
    Step.DISTRICT: N_("Which district do you work in?"),
}

PROBLEMS: dict[Problem, str] = {
    Problem.BAD_NAME: N_("Please write your name in letters, for example: Sunita Devi."),
    Problem.BAD_QUALIFICATION: N_("Please write your qualification in a few words."),
    Problem.BAD_REGISTRATION: N_(
        "That does not look like a registration number. Use letters, digits and - or /, "
        "for example: KMC 123456."
    ),
    Problem.BAD_PLACE: N_("Please write the name in letters, for example: Rampur."),
    Problem.NO_SPECIALTY: N_("Choose at least one specialty, then tap Done."),
    Problem.USE_BUTTONS: N_("Please use the buttons above."),
}

INVITE_PROBLEMS: dict[InviteProblem, str] = {
    InviteProblem.UNKNOWN: N_(
        "This invite link is not valid. "
        "Please check the link or ask your coordinator for a new one."
    ),
    InviteProblem.EXPIRED: N_(
        "This invite link has expired. Please ask your coordinator for a new one."
    ),
    InviteProblem.EXHAUSTED: N_(
        "This invite link has already been used. Please ask your coordinator for a new one."
    ),
    InviteProblem.REVOKED: N_(
        "This invite link was cancelled. Please ask your coordinator for a new one."
    ),
}

STATUS_LABELS: dict[Status, str] = {
    Status.PENDING: N_("waiting for approval"),
    Status.ACTIVE: N_("active"),
    Status.SUSPENDED: N_("suspended"),
    Status.REJECTED: N_("not approved"),
}


def choose_language(tr: Translator) -> str:
    return tr._("Choose your language:")


def stranger(tr: Translator) -> str:
    return tr._(
        "I don't know you yet. Please open the invite link your coordinator sent you. "
        "To change the language, send /language."
    )


def profile(tr: Translator, user: UserView) -> str:
    """The person's own registration details (never shown to anyone else but approvers)."""
    lines = [
        tr._("Name: {name}", name=user.full_name),
        tr._("Role: {role}", role=tr._(ROLE_LABELS[user.role])),
    ]
    if user.role is Role.SPECIALIST:
        lines.append(tr._("Qualification: {value}", value=user.qualification or "—"))
        lines.append(tr._("Registration no.: {value}", value=user.registration_number or "—"))
        names = ", ".join(
            tr._(SPECIALTIES[code]) for code in user.specialties if code in SPECIALTIES
        )
        lines.append(tr._("Specialties: {value}", value=names or "—"))
    if user.facility_name:
        lines.append(tr._("Facility: {value}", value=user.facility_name))
    if user.district:
        lines.append(tr._("District: {value}", value=user.district))
    lines.append(tr._("Language: {value}", value=LANGUAGE_NAMES.get(user.language, user.language)))
    return "\n".join(lines)


def status_line(tr: Translator, user: UserView) -> str:
    return tr._("Status: {value}", value=tr._(STATUS_LABELS[user.status]))


def help_text(tr: Translator, user: UserView | None) -> str:
    if user is None:
        return stranger(tr)
    if not user.is_active:
        return tr._(
            "Your registration is {status}. I will message you here when that changes.",
            status=tr._(STATUS_LABELS[user.status]),
        )
    common = [
        tr._("/oncall – who is on call now"),
        tr._("/whoami – your registration details"),
        tr._("/language – change the language"),
        tr._("/help – this list"),
    ]
    by_role = {
        Role.HEALTH_WORKER: [
            tr._("/new – send a new case to a specialist"),
            tr._("/cancel – discard the unfinished case"),
            tr._("/mycases – your cases; cancel one you no longer need"),
        ],
        Role.SPECIALIST: [
            tr._("You will receive cases for your specialties when you are on call."),
            tr._("/mycases – your open cases and offers"),
        ],
        Role.COORDINATOR: [
            tr._("/cases – open cases, their history, assign by hand"),
            tr._("/invite – invite a health worker, specialist or coordinator"),
            tr._("/roster – this week's on-call roster; send a CSV file to replace it"),
            tr._("/stats – cases, turnaround and escalations; CSV export"),
            tr._("/broadcast – a message or an alert to many people; /broadcasts – reports"),
            tr._("You approve new specialists and coordinators of your district here."),
        ],
        Role.ADMIN: [
            tr._("/cases – open cases, their history, assign by hand"),
            tr._("/invite – invite a health worker, specialist or coordinator"),
            tr._("/roster – this week's on-call roster; send a CSV file to replace it"),
            tr._("/stats – cases, turnaround and escalations; CSV export"),
            tr._("/broadcast – a message or an alert to many people; /broadcasts – reports"),
            tr._("You approve new specialists, coordinators and administrators here."),
        ],
    }
    return "\n".join([tr._("What you can do:"), *by_role[user.role], *common])
