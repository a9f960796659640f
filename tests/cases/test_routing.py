"""Routing order: load, then shared language, then id; emergencies go to everyone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.cases.routing import Candidate, choose, rank
from bot.domain import Urgency

LANGS = st.sampled_from(["en", "hi", "mr", "bn"])
candidates_st = st.lists(
    st.builds(Candidate, user_id=st.integers(1, 40), language=LANGS, load=st.integers(0, 5)),
    max_size=15,
    unique_by=lambda c: c.user_id,
)


def test_least_loaded_then_language_then_id() -> None:
    pool = [
        Candidate(5, "en", 1),
        Candidate(4, "hi", 1),
        Candidate(3, "en", 0),
        Candidate(2, "en", 2),
        Candidate(1, "hi", 2),
    ]
    assert [c.user_id for c in rank(pool, "hi")] == [3, 4, 5, 1, 2]
    assert [c.user_id for c in rank(pool, "en")] == [3, 5, 4, 2, 1]
    assert [c.user_id for c in rank(pool, None)] == [3, 4, 5, 1, 2]


def test_one_at_a_time_unless_emergency() -> None:
    pool = [Candidate(1, "en", 0), Candidate(2, "en", 0), Candidate(3, "en", 1)]
    assert [c.user_id for c in choose(pool, language="en", urgency=Urgency.ROUTINE)] == [1]
    assert [c.user_id for c in choose(pool, language="en", urgency="urgent")] == [1]
    assert [
        c.user_id for c in choose(pool, language="en", urgency=Urgency.EMERGENCY, excluded={1})
    ] == [2, 3]
    assert choose(pool, language="en", urgency=Urgency.ROUTINE, excluded={1, 2, 3}) == []
    assert choose([], language="en", urgency=Urgency.EMERGENCY) == []


@given(candidates_st, LANGS, st.randoms(use_true_random=False))
def test_rank_ignores_input_order(pool: list[Candidate], language: str, rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(pool)
    rnd.shuffle(shuffled)
    assert rank(shuffled, language) == rank(pool, language)


@given(candidates_st, LANGS)
def test_rank_is_sorted_and_complete(pool: list[Candidate], language: str) -> None:
    ranked = rank(pool, language)
    assert sorted(c.user_id for c in ranked) == sorted(c.user_id for c in pool)
    keys = [(c.load, c.language != language, c.user_id) for c in ranked]
    assert keys == sorted(keys)


@given(candidates_st, LANGS, st.sampled_from(list(Urgency)), st.sets(st.integers(1, 40)))
def test_choose_is_deterministic_and_respects_exclusions(
    pool: list[Candidate], language: str, urgency: Urgency, excluded: set[int]
) -> None:
    first = choose(pool, language=language, urgency=urgency, excluded=excluded)
    assert first == choose(
        list(reversed(pool)), language=language, urgency=urgency, excluded=excluded
    )
    assert not {c.user_id for c in first} & excluded
    eligible = [c for c in pool if c.user_id not in excluded]
    if urgency is Urgency.EMERGENCY:
        assert len(first) == len(eligible)
    else:
        assert len(first) == min(1, len(eligible))
        if first:
            best = first[0]
            assert all(best.load <= c.load for c in eligible)
