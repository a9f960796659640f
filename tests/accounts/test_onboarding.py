from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.accounts.directory import Outcome
from bot.accounts.invites import InviteError, InviteProblem
from bot.accounts.onboarding import (
    AlreadyRegistered,
    Completed,
    InviteLost,
    Problem,
    Prompt,
    Step,
    validate,
)
from bot.domain import Role, Status
from bot.services import Services

WORKER, SPECIALIST, COORDINATOR = 101, 202, 303


async def register(services: Services, telegram_id: int, code: str, *answers: str) -> object:
    await services.onboarding.begin(telegram_id, code)
    result: object = await services.onboarding.choose_language(telegram_id, "hi")
    for text in answers:
        result = await services.onboarding.answer(telegram_id, text)
    return result


async def test_health_worker_bound_to_facility_is_active_at_once(services: Services) -> None:
    phc = await services.facilities.add("PHC Amminabhavi", "Dharwad")
    invite = await services.invites.create(Role.HEALTH_WORKER, facility_id=phc.id)
    done = await register(services, WORKER, invite.code, "Sunita Devi")
    assert isinstance(done, Completed)
    assert done.user.status is Status.ACTIVE
    assert done.user.language == "hi"
    assert done.user.facility_name == "PHC Amminabhavi"


async def test_unbound_health_worker_names_facility_and_waits(services: Services) -> None:
    invite = await services.invites.create(Role.HEALTH_WORKER)
    done = await register(services, WORKER, invite.code, "Sunita Devi", "SC Hebballi", "Dharwad")
    assert isinstance(done, Completed)
    assert done.user.status is Status.PENDING
    assert done.user.facility_name == "SC Hebballi"
    assert done.user.district == "Dharwad"


async def test_specialist_answers_every_question_then_waits(services: Services) -> None:
    invite = await services.invites.create(Role.SPECIALIST, district="Dharwad")
    prompt = await register(services, SPECIALIST, invite.code, "Dr. Asha Rao", "MD Radiology")
    assert isinstance(prompt, Prompt) and prompt.step is Step.REGISTRATION_NUMBER
    bad = await services.onboarding.answer(SPECIALIST, "none")
    assert isinstance(bad, Prompt) and bad.problem is Problem.BAD_REGISTRATION
    prompt = await services.onboarding.answer(SPECIALIST, "kmc 123456")
    assert isinstance(prompt, Prompt) and prompt.step is Step.SPECIALTIES
    typed = await services.onboarding.answer(SPECIALIST, "radiology")
    assert isinstance(typed, Prompt) and typed.problem is Problem.USE_BUTTONS
    empty = await services.onboarding.finish_specialties(SPECIALIST)
    assert isinstance(empty, Prompt) and empty.problem is Problem.NO_SPECIALTY
    await services.onboarding.toggle_specialty(SPECIALIST, "radiology")
    await services.onboarding.toggle_specialty(SPECIALIST, "medicine")
    toggled = await services.onboarding.toggle_specialty(SPECIALIST, "medicine")
    assert isinstance(toggled, Prompt) and toggled.selected == ("radiology",)
    assert await services.onboarding.toggle_specialty(SPECIALIST, "astrology") is None
    done = await services.onboarding.finish_specialties(SPECIALIST)
    assert isinstance(done, Completed)
    assert done.user.status is Status.PENDING
    assert done.user.registration_number == "KMC 123456"
    assert done.user.specialties == ("radiology",)


async def test_dialogue_survives_a_new_process(services: Services) -> None:
    invite = await services.invites.create(Role.SPECIALIST)
    await register(services, SPECIALIST, invite.code, "Dr. Asha Rao")
    current = await services.onboarding.current(SPECIALIST)
    assert current is not None and current.step is Step.QUALIFICATION


async def test_registered_user_cannot_redeem_again(services: Services) -> None:
    phc = await services.facilities.add("F", "D")
    invite = await services.invites.create(Role.HEALTH_WORKER, facility_id=phc.id, uses=2)
    await register(services, WORKER, invite.code, "Sunita Devi")
    with pytest.raises(AlreadyRegistered):
        await services.onboarding.begin(WORKER, invite.code)


async def test_last_use_is_taken_by_whoever_finishes_first(services: Services) -> None:
    phc = await services.facilities.add("F", "D")
    invite = await services.invites.create(Role.HEALTH_WORKER, facility_id=phc.id)
    await register(services, WORKER, invite.code)
    await register(services, WORKER + 1, invite.code)
    first = await services.onboarding.answer(WORKER, "Sunita Devi")
    second = await services.onboarding.answer(WORKER + 1, "Rekha Bai")
    assert isinstance(first, Completed)
    assert second == InviteLost(InviteProblem.EXHAUSTED)
    assert await services.onboarding.current(WORKER + 1) is None
    with pytest.raises(InviteError):
        await services.onboarding.begin(WORKER + 2, invite.code)


async def test_approval_by_district_coordinator(services: Services) -> None:
    boss = await services.invites.create(Role.COORDINATOR, district="Dharwad", preapproved=True)
    coordinator = await register(services, COORDINATOR, boss.code, "Ravi Kumar")
    assert isinstance(coordinator, Completed) and coordinator.user.status is Status.ACTIVE
    invite = await services.invites.create(
        Role.SPECIALIST, district="Dharwad", specialty="radiology"
    )
    done = await register(services, SPECIALIST, invite.code, "Dr. Asha Rao", "MD", "KMC 12345")
    assert isinstance(done, Completed) and done.user.specialties == ("radiology",)
    approvers = await services.directory.approvers_for("Dharwad")
    assert [a.telegram_id for a in approvers] == [COORDINATOR]

    not_allowed = await services.directory.decide(SPECIALIST, done.user.id, True)
    assert not_allowed.outcome is Outcome.NOT_ALLOWED
    approved = await services.directory.decide(COORDINATOR, done.user.id, True)
    assert approved.outcome is Outcome.APPROVED
    assert approved.applicant is not None and approved.applicant.status is Status.ACTIVE
    again = await services.directory.decide(COORDINATOR, done.user.id, False)
    assert again.outcome is Outcome.ALREADY_DECIDED
    missing = await services.directory.decide(COORDINATOR, 999_999, True)
    assert missing.outcome is Outcome.UNKNOWN_USER


@given(st.text(max_size=200))
def test_validation_never_crashes_and_normalises(text: str) -> None:
    for step in Step:
        value, problem = validate(step, text)
        assert (value is None) != (problem is None)
        if value is not None:
            assert value == value.strip() and "  " not in value


@pytest.mark.parametrize(
    ("step", "text", "ok"),
    [
        (Step.FULL_NAME, "सुनीता देवी", True),
        (Step.FULL_NAME, "Dr. A. K. Sharma", True),
        (Step.FULL_NAME, "12345", False),
        (Step.FULL_NAME, "x", False),
        (Step.REGISTRATION_NUMBER, "DMC/R/12345", True),
        (Step.REGISTRATION_NUMBER, "MCI-2019-0042", True),
        (Step.REGISTRATION_NUMBER, "ABC", False),
        (Step.DISTRICT, "ধুবুরী", True),
    ],
)
def test_validation_examples(step: Step, text: str, ok: bool) -> None:
    assert (validate(step, text)[1] is None) is ok


def test_roles_are_complete() -> None:
    assert {r.value for r in Role} == {"health_worker", "specialist", "coordinator", "admin"}
