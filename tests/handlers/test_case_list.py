"""The ``/cases`` pages: eight cases a page, arrows only where there is more, no identifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.cases.case_list import CaseEvent
from bot.cases.views import CaseView
from bot.domain import CaseStatus, Urgency
from bot.handlers import case_list
from bot.i18n import Catalogs

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def view(n: int) -> CaseView:
    return CaseView(
        id=n,
        code=f"K{n:02d}-AAA",
        status=CaseStatus.OFFERED,
        health_worker_id=1,
        district="Dharwad",
        specialty="radiology",
        urgency=Urgency.URGENT if n % 2 else Urgency.ROUTINE,
        age_value=30,
        age_unit="y",
        sex="f",
        complaint="cough",
        history=None,
        submitted_at=NOW - timedelta(hours=n),
    )


def test_pages_of_eight_with_arrows() -> None:
    tr = Catalogs().get("en")
    listed = [view(n) for n in range(1, 21)]
    text, markup = case_list.page(tr, listed, 0, NOW)
    assert markup is not None
    assert text.splitlines()[0] == tr._("Open cases: {n}", n=20)
    assert "K08-AAA" in text and "K09-AAA" not in text
    rows = markup.inline_keyboard
    assert [b.text for b in rows[-1]] == ["1/3", "▶️"]
    assert rows[0][0].text == "🟠 K01-AAA"
    assert rows[0][0].callback_data == "cl:c:1"

    text, markup = case_list.page(tr, listed, 2, NOW)
    assert markup is not None
    assert "K17-AAA" in text and "K20-AAA" in text and "K16-AAA" not in text
    assert [b.text for b in markup.inline_keyboard[-1]] == ["◀️", "3/3"]
    assert case_list.page(tr, listed, 99, NOW)[0] == text  # a stale page: the last one


def test_one_page_has_no_arrows_and_empty_says_so() -> None:
    tr = Catalogs().get("hi")
    text, markup = case_list.page(tr, [view(1)], 0, NOW)
    assert "K01-AAA" in text
    assert markup is not None and len(markup.inline_keyboard) == 1
    assert case_list.page(tr, [], 0, NOW) == (tr._("No open cases in your district."), None)


def test_events_are_worded_in_the_reader_language() -> None:
    tr = Catalogs().get("en")
    at = NOW
    assert case_list.event_text(tr, CaseEvent(at, "case.decline", "Dr Meera", "busy")) == (
        "Dr Meera declined: Busy now"
    )
    assert case_list.event_text(tr, CaseEvent(at, "case.escalate", None, "nobody_on_call")) == (
        "escalated: nobody on call"
    )
    assert case_list.event_text(tr, CaseEvent(at, "case.assign", "Dr Arjun")) == (
        "assigned to Dr Arjun"
    )
    cancelled = CaseEvent(at, "case.cancel", None, "recovered")
    assert case_list.event_text(tr, cancelled) == (
        "cancelled by the health worker: Patient recovered"
    )
