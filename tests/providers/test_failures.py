"""What a provider's error answer means for a run: its code and whether to retry."""

from __future__ import annotations

import email.utils
import errno
import time

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from corral.providers import failures


@pytest.mark.parametrize(
    ("status", "message", "error_type", "code", "retryable"),
    [
        (401, "invalid x-api-key", "authentication_error", "provider_auth_error", False),
        (403, "forbidden", None, "provider_auth_error", False),
        (429, "rate limited", "rate_limit_error", "provider_rate_limited", True),
        (529, "Overloaded", "overloaded_error", "provider_overloaded", True),
        (503, "the engine is overloaded", None, "provider_overloaded", True),
        (500, "internal", "api_error", "provider_error", True),
        (502, "bad gateway", None, "provider_error", True),
        (408, "timeout", None, "provider_error", True),
        (404, "model: claude-x", "not_found_error", "invalid_model", False),
        (400, "The model `gpt-x` does not exist", "model_not_found", "invalid_model", False),
        (
            400,
            "prompt is too long: 210000 tokens > 200000 maximum",
            None,
            "context_length_exceeded",
            False,
        ),
        (
            400,
            "This model's maximum context length is 128000 tokens",
            "context_length_exceeded",
            "context_length_exceeded",
            False,
        ),
        (400, "temperature: must be >= 0", "invalid_request_error", "provider_error", False),
        # An overloaded error inside a 200 stream has no status of its own.
        (200, "Overloaded", "overloaded_error", "provider_overloaded", True),
    ],
)
def test_an_error_answer_becomes_a_run_failure_code(status, message, error_type, code, retryable):
    error = failures.from_status("prov", status, message, {}, error_type=error_type)

    assert (error.code, error.retryable) == (code, retryable)
    assert error.message.startswith("prov: ")


def test_retry_after_is_read_in_seconds_milliseconds_or_as_a_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)

    assert failures.retry_after_s({"Retry-After": "7"}) == 7.0
    assert failures.retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert 25 < (failures.retry_after_s({"retry-after": later}) or 0) <= 30
    assert failures.retry_after_s({"retry-after": "whenever"}) is None
    assert failures.retry_after_s({}) is None


def test_a_rate_limit_carries_the_providers_wait():
    error = failures.from_status("prov", 429, "slow down", {"retry-after": "12"})

    assert error.retry_after_s == 12.0


def test_a_lost_connection_is_retryable():
    error = failures.connection_lost("prov", ConnectionResetError("reset by peer"))

    assert (error.code, error.retryable) == ("provider_error", True)
    assert "reset by peer" in error.message


def test_only_a_server_that_cannot_be_reached_is_named_with_its_variable():
    refused = aiohttp.ClientConnectorError(
        ConnectionKey("127.0.0.1", 11434, False, True, None, None, None, None),
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    )
    cut = aiohttp.ServerDisconnectedError()

    unreachable = failures.connection_lost(
        "ollama", refused, base_url="http://127.0.0.1:11434/v1", url_variable="OLLAMA_BASE_URL"
    )
    dropped = failures.connection_lost(
        "ollama", cut, base_url="http://127.0.0.1:11434/v1", url_variable="OLLAMA_BASE_URL"
    )

    assert unreachable.message == (
        "ollama: connection failed: cannot connect to 127.0.0.1:11434: Connection refused"
        " — is the model server at http://127.0.0.1:11434/v1 running?"
        " (set OLLAMA_BASE_URL on the server if it listens elsewhere)"
    )
    assert unreachable.retryable
    assert "OLLAMA_BASE_URL" not in dropped.message
