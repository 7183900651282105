"""The retry policy of a model turn: how long to wait, and what subscribers have already seen."""

from __future__ import annotations

import random

import pytest

from corral.errors import ProviderError
from corral.runtime.model_turn import (
    MAX_BACKOFF_S,
    MAX_RETRY_AFTER_S,
    _longest,
    _mask_key,
    backoff_s,
)


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_full_jitter_under_a_doubling_ceiling(attempt):
    rng = random.Random(attempt)
    ceiling = min(MAX_BACKOFF_S, 1.0 * 2**attempt)

    waits = [backoff_s(attempt, 1.0, None, rng) for _ in range(300)]

    assert all(0 <= w <= ceiling for w in waits)
    assert max(waits) > 0.8 * ceiling and min(waits) < 0.2 * ceiling


def test_the_providers_retry_after_wins_within_a_bound():
    rng = random.Random(0)

    assert backoff_s(0, 1.0, 7.0, rng) == 7.0
    assert backoff_s(3, 1.0, 3600.0, rng) == MAX_RETRY_AFTER_S


def test_what_was_shown_grows_only_when_a_retry_got_further_along_the_same_text():
    assert _longest("", '"This is a') == '"This is a'
    assert _longest('"This is a', '"This is a test."') == '"This is a test."'
    assert _longest('"This is a test', '"This') == '"This is a test'
    assert _longest('"This is a', "Something else") == '"This is a'


def test_a_key_the_provider_echoes_is_masked_in_the_failure():
    error = ProviderError("openai: Incorrect API key provided: sk-live-123456789", status=401)

    _mask_key(error, "sk-live-123456789")

    assert error.message == "openai: Incorrect API key provided: ***"
