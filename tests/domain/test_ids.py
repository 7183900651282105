from __future__ import annotations

import pytest

from corral.ids import kind_of, new_id


def test_ids_carry_their_kind_and_sort_by_creation_time():
    earlier = new_id("run", now_ms=1_700_000_000_000)
    later = new_id("run", now_ms=1_700_000_000_001)

    assert earlier.startswith("run_") and len(earlier) == 30
    assert earlier < later
    assert kind_of(earlier) == "run"


@pytest.mark.parametrize("value", ["run_short", "nope_01JD5X3V6Q8Z0M9T2B4C7E1F3H", "plain", ""])
def test_strings_that_are_not_ids_have_no_kind(value):
    assert kind_of(value) is None


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError):
        new_id("banana")


def test_ids_are_unique():
    assert len({new_id("run") for _ in range(10_000)}) == 10_000


def test_ids_made_in_the_same_millisecond_still_increase():
    made = [new_id("run") for _ in range(1000)]
    assert made == sorted(made)
