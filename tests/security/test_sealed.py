"""Provider keys are sealed under the server's secret, and only that secret opens them."""

from __future__ import annotations

import stat

import pytest

from corral.security.sealed import SealError, SecretBox, load_or_create_secret, new_secret


def test_a_sealed_mapping_opens_with_the_same_secret_only():
    secret = new_secret()
    sealed = SecretBox(secret).seal({"anthropic": "sk-ant-123"})

    assert "sk-ant-123" not in sealed
    assert SecretBox(secret).open(sealed) == {"anthropic": "sk-ant-123"}
    with pytest.raises(SealError):
        SecretBox(new_secret()).open(sealed)


def test_the_same_keys_seal_differently_each_time():
    box = SecretBox(new_secret())

    assert box.seal({"openai": "sk"}) != box.seal({"openai": "sk"})


def test_a_malformed_secret_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match="corral secret-key"):
        SecretBox("not-a-key")


def test_the_data_directory_keeps_one_secret_readable_by_its_owner_only(tmp_path):
    first = load_or_create_secret(tmp_path / "data")
    again = load_or_create_secret(tmp_path / "data")

    assert first == again
    mode = stat.S_IMODE((tmp_path / "data" / "secret.key").stat().st_mode)
    assert mode == 0o600
    SecretBox(first)  # a valid secret
