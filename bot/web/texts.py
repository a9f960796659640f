"""Words of the study viewer, in the reader's language; never a patient identifier.

The case lines reuse the chat's wording (same msgids as the specialist's case card), so
the viewer says what the chat says.
"""

from __future__ import annotations

from bot.cases.views import CaseView
from bot.domain import SPECIALTIES, URGENCY_LABELS
from bot.i18n import N_, Translator

#: Right-to-left scripts among the languages Sampark speaks.
RTL_LANGUAGES = frozenset({"ur"})

LABELS: dict[str, str] = {
    "title": N_("Study viewer"),
    "series": N_("Series"),
    "frame": N_("Image"),
    "window": N_("Window"),
    "presets": N_("Presets"),
    "adjust": N_("Adjust"),
    "pan": N_("Move"),
    "invert": N_("Invert"),
    "reset": N_("Reset"),
    "download": N_("Download study"),
    "loading": N_("Loading…"),
    "error": N_("This image could not be loaded. Try again."),
    "burned_in": N_("⚠️ Names may be written inside some images."),
    "case": N_("Case"),
    "offline": N_("No connection. Waiting to try again…"),
    "of": N_("{n} of {total}"),
}

#: CT window presets (``bot.imaging.dicom_render.window_presets``), named for the reader.
PRESET_NAMES: dict[str, str] = {
    "brain": N_("Brain"),
    "subdural": N_("Subdural"),
    "stroke": N_("Stroke"),
    "lung": N_("Lung"),
    "mediastinum": N_("Mediastinum"),
    "abdomen": N_("Abdomen"),
    "liver": N_("Liver"),
    "bone": N_("Bone"),
}

SEX_LABELS = {"female": N_("Female"), "male": N_("Male"), "other": N_("Other")}

#: Error pages and API errors: (title, explanation) by status.
PAGES: dict[int, tuple[str, str]] = {
    404: (
        N_("Link not found"),
        N_("This link does not exist. Check that it was copied completely."),
    ),
    410: (
        N_("This link is no longer valid"),
        N_("It has expired or was withdrawn. Ask for a new link in the chat."),
    ),
    403: (
        N_("Not allowed"),
        N_("You may not see this study. Ask the coordinator if you think you should."),
    ),
    429: (
        N_("Too many attempts"),
        N_("Too many wrong links from this network. Wait a few minutes and try again."),
    ),
    401: (
        N_("Please open this again from the chat"),
        N_("Telegram could not confirm who you are, or it took too long."),
    ),
}
API_ERRORS: dict[str, str] = {
    "bad_request": N_("Please check the address."),
    "not_found": N_("Not found."),
}


def labels(tr: Translator) -> dict[str, str]:
    """Every label of the contract, translated."""
    return {key: tr._(text) for key, text in LABELS.items()}


def text_direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def _age(tr: Translator, case: CaseView) -> str:
    value = case.age_value or 0
    if case.age_unit == "m":
        return tr.ngettext("{n} month", "{n} months", value)
    if case.age_unit == "d":
        return tr.ngettext("{n} day", "{n} days", value)
    return tr.ngettext("{n} year", "{n} years", value)


def case_lines(tr: Translator, case: CaseView) -> list[str]:
    """The case card without identifiers: code and urgency, age and sex, complaint,
    history, specialty (the same lines as in the chat)."""
    urgency = tr._(URGENCY_LABELS[case.urgency]) if case.urgency else "—"
    sex = tr._(SEX_LABELS[case.sex]) if case.sex in SEX_LABELS else "—"
    specialty = tr._(SPECIALTIES[case.specialty]) if case.specialty in SPECIALTIES else "—"
    return [
        tr._("Case {code} · {urgency}", code=case.code, urgency=urgency),
        tr._("Patient: {value}", value=f"{_age(tr, case)}, {sex}"),
        tr._("Complaint: {value}", value=case.complaint or "—"),
        tr._("History: {value}", value=case.history or "—"),
        tr._("Specialty: {value}", value=specialty),
    ]
