"""Words of the case flow, in the reader's language; never a patient identifier."""

from __future__ import annotations

from bot.cases.drafts import DraftPrompt, Step
from bot.cases.views import CaseView
from bot.domain import SPECIALTIES, URGENCY_LABELS
from bot.i18n import N_, Translator
from bot.imaging.errors import Reason

SEX_LABELS = {"female": N_("Female"), "male": N_("Male"), "other": N_("Other")}
CONSENT_LABELS = {
    "patient": N_("Yes, the patient agreed"),
    "guardian": N_("Yes, the guardian agreed"),
}

DRAFT_QUESTIONS: dict[Step, str] = {
    Step.AGE: N_(
        "New case. How old is the patient? Write a number, e.g. 45 — "
        "or 8 months, or 10 days for a baby."
    ),
    Step.SEX: N_("Sex of the patient?"),
    Step.IDENTIFIERS: N_(
        "Add the patient's name, phone or ABHA number? They are kept "
        "encrypted and never shown to the specialist."
    ),
    Step.NAME: N_("Patient's name?"),
    Step.PHONE: N_("Patient's mobile number?"),
    Step.ABHA: N_("ABHA number (14 digits)?"),
    Step.COMPLAINT: N_("Main complaint, in a few words? For example: cough for 3 weeks, fever."),
    Step.HISTORY: N_("History: write it, or send voice notes. Tap Done when finished."),
    Step.VITALS: N_("Add vitals (temperature, pulse, blood pressure, SpO2)?"),
    Step.TEMPERATURE: N_("Temperature (°C or °F)?"),
    Step.PULSE: N_("Pulse (beats per minute)?"),
    Step.BLOOD_PRESSURE: N_("Blood pressure? For example: 120/80."),
    Step.SPO2: N_("SpO2 (%)?"),
    Step.SPECIALTY: N_("Which specialist should see this case?"),
    Step.URGENCY: N_("How urgent is it?"),
    Step.ATTACHMENTS: N_(
        "Now send the images: X-ray or scan files (DICOM), photos, a zip "
        "of a study, PDF reports. Several at once is fine. Tap Done when all "
        "are sent."
    ),
    Step.REVIEW: N_("Please check the case."),
    Step.CONSENT: N_(
        "Did the patient (or, for a child, the guardian) agree to share this "
        "case with a specialist?"
    ),
}

DRAFT_PROBLEMS: dict[str, str] = {
    "age_format": N_("Please write the age as a number, e.g. 45, or 8 months, or 10 days."),
    "age_range": N_("That age is not possible. Please check it."),
    "phone_format": N_("Please write a 10-digit mobile number, e.g. 98450 12345."),
    "abha_format": N_("An ABHA number has 14 digits, e.g. 12-3456-7890-1234."),
    "vital_format": N_("Please write just the number."),
    "vital_range": N_("That value is outside the possible range. Please check it, or tap Skip."),
    "bp_format": N_("Please write the blood pressure like 120/80."),
    "empty": N_("Please write a few words."),
    "too_long": N_("That is too long. Please keep it shorter."),
    "use_buttons": N_("Please use the buttons below."),
    "consent_needed": N_(
        "A case can only be sent with consent. Ask the patient, then tap the answer — or /cancel."
    ),
    "guardian_needed": N_("The patient is a child: the guardian must agree."),
}
GENERIC_PROBLEM = N_("Please check that answer.")

ATTACHMENT_REFUSALS: dict[Reason, str] = {
    Reason.UNSUPPORTED: N_(
        "I can't read this kind of file. Send DICOM files, photos (JPEG, "
        "PNG), a zip of a study, or PDFs."
    ),
    Reason.CORRUPT: N_(
        "This file is damaged and can't be opened. Please send it again or "
        "export it again from the machine."
    ),
    Reason.TOO_LARGE: N_(
        "This file is too large (over 20 MB). Send the images one by one, or "
        "ask your coordinator for the upload link."
    ),
    Reason.NO_PIXEL_DATA: N_("This DICOM file has no image in it."),
    Reason.ENCRYPTED_PDF: N_(
        "This PDF is password-protected. Please send a copy without a password."
    ),
    Reason.ENCRYPTED_ARCHIVE: N_(
        "This zip is password-protected. Please send a copy without a password."
    ),
    Reason.UNSAFE_ARCHIVE: N_(
        "This zip file can't be opened safely. Please send the images themselves."
    ),
    Reason.TIMEOUT: N_(
        "This file took too long to process. Please send it again, or send fewer images at once."
    ),
    Reason.CRASHED: N_("This file could not be processed. Please send it again."),
}
#: What a received file is called when it has no modality code (CT, DX, US, …) to show.
FILE_KINDS = {
    "dicom": N_("DICOM image"),
    "photo": N_("Photo"),
    "zip": N_("Study (zip)"),
    "pdf": N_("PDF"),
}
OTHER_KIND = N_("File")


def file_kind(tr: Translator, kind: str) -> str:
    return tr._(FILE_KINDS.get(kind, OTHER_KIND))


COMPRESSED_PHOTO = N_(
    "Telegram made this photo smaller, so details may be lost. For X-rays and reports, "
    "please send it as a file: tap 📎, choose File, then the photo."
)


def age(tr: Translator, case: CaseView) -> str:
    value = case.age_value or 0
    if case.age_unit == "m":
        return tr.ngettext("{n} month", "{n} months", value)
    if case.age_unit == "d":
        return tr.ngettext("{n} day", "{n} days", value)
    return tr.ngettext("{n} year", "{n} years", value)


def patient_line(tr: Translator, case: CaseView) -> str:
    sex = tr._(SEX_LABELS[case.sex]) if case.sex in SEX_LABELS else "—"
    return f"{age(tr, case)}, {sex}"


def vitals(tr: Translator, case: CaseView) -> str:
    labels = {
        "temperature": (N_("Temp"), " °C"),
        "pulse": (N_("Pulse"), "/min"),
        "blood_pressure": (N_("BP"), ""),
        "spo2": (N_("SpO2"), " %"),
    }
    parts = [
        f"{tr._(labels[k][0])} {v}{labels[k][1]}" for k, v in case.vitals.items() if k in labels
    ]
    return ", ".join(parts) or "—"


def review(tr: Translator, prompt: DraftPrompt) -> str:
    """The draft as the health worker will submit it; identifiers only as "recorded"."""
    case = prompt.case
    lines = [
        tr._("Patient: {value}", value=patient_line(tr, case)),
        tr._("Complaint: {value}", value=case.complaint or "—"),
        tr._("History: {value}", value=case.history or "—"),
        tr._("Vitals: {value}", value=vitals(tr, case)),
        tr._(
            "Specialty: {value}",
            value=tr._(SPECIALTIES[case.specialty]) if case.specialty in SPECIALTIES else "—",
        ),
        tr._("Urgency: {value}", value=tr._(URGENCY_LABELS[case.urgency]) if case.urgency else "—"),
        tr.ngettext("{n} file attached", "{n} files attached", prompt.attachments),
    ]
    if prompt.identifiers:
        lines.append(tr._("Patient details recorded (hidden from specialists)."))
    return "\n".join(lines)
