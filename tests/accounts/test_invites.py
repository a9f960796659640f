from __future__ import annotations

from datetime import timedelta

import pytest

from bot.accounts.invites import CODE_ALPHABET, InviteError, InviteProblem, deep_link, parse_ttl
from bot.clock import ManualClock
from bot.domain import Role
from bot.services import Services


async def test_created_invite_checks_out_with_its_binding(services: Services) -> None:
    phc = await services.facilities.add("PHC  Amminabhavi", "Dharwad")
    made = await services.invites.create(Role.HEALTH_WORKER, facility_id=phc.id, uses=3)
    assert set(made.code) <= set(CODE_ALPHABET) and len(made.code) == 12
    checked = await services.invites.check(made.code.lower())
    assert checked.facility_name == "PHC Amminabhavi"
    assert checked.district == "Dharwad"
    assert checked.max_uses == 3


async def test_same_facility_is_reused(services: Services) -> None:
    a = await services.facilities.add("PHC X", "D")
    b = await services.facilities.add(" PHC X ", "D")
    assert a == b
    assert await services.facilities.in_district("D") == [a]
    with pytest.raises(ValueError, match="name and a district"):
        await services.facilities.add("PHC Y", " ")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"specialty": "astrology"}, "unknown specialty"),
        ({"uses": 0}, "at least 1"),
        ({"facility_id": 42}, "no facility"),
    ],
)
async def test_bad_invites_are_refused(services: Services, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await services.invites.create(Role.SPECIALIST, **kwargs)


async def test_unknown_expired_and_revoked(services: Services, clock: ManualClock) -> None:
    with pytest.raises(InviteError) as unknown:
        await services.invites.check("NOPE")
    assert unknown.value.problem is InviteProblem.UNKNOWN

    made = await services.invites.create(Role.SPECIALIST, ttl=timedelta(hours=1))
    clock.advance(timedelta(hours=1))
    with pytest.raises(InviteError) as expired:
        await services.invites.check(made.code)
    assert expired.value.problem is InviteProblem.EXPIRED

    other = await services.invites.create(Role.SPECIALIST)
    assert await services.invites.revoke(other.code)
    with pytest.raises(InviteError) as revoked:
        await services.invites.check(other.code)
    assert revoked.value.problem is InviteProblem.REVOKED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("5", timedelta(hours=5)),
    ],
)
def test_parse_ttl(text: str, expected: timedelta) -> None:
    assert parse_ttl(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "-1h", "soon", "7w"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_ttl(text)


def test_deep_link_payload_is_telegram_safe() -> None:
    assert deep_link("SamparkBot", "ABC234") == "https://t.me/SamparkBot?start=ABC234"
