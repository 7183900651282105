"""Redaction: every secret value becomes `[secret:NAME]`, even when it arrives in pieces."""

from __future__ import annotations

import pytest

from corral.domain.redaction import Redactor, StreamRedactor

SECRETS = {"TOKEN": "tok-1234567890", "LONGER": "tok-1234567890-and-more", "PIN": "123"}


def test_each_value_is_replaced_by_its_name_the_longest_first() -> None:
    redactor = Redactor(SECRETS)

    assert redactor.text("a tok-1234567890-and-more b tok-1234567890 c") == (
        "a [secret:LONGER] b [secret:TOKEN] c"
    )
    # Too short to tell apart from ordinary text: left alone (docs/secrets.md says so).
    assert redactor.text("pin 123") == "pin 123"


def test_nested_data_and_file_contents_are_redacted_and_other_values_kept() -> None:
    redactor = Redactor(SECRETS)
    data = {"k": ["x tok-1234567890", 7, None, {"deep": "tok-1234567890"}], "n": 1.5}

    assert redactor.tree(data) == {
        "k": ["x [secret:TOKEN]", 7, None, {"deep": "[secret:TOKEN]"}],
        "n": 1.5,
    }
    assert redactor.data(b"\x00tok-1234567890\xff") == b"\x00[secret:TOKEN]\xff"


def test_a_redactor_without_secrets_changes_nothing() -> None:
    redactor = Redactor({})
    data = {"a": ["b"]}

    assert not redactor
    assert redactor.tree(data) is data
    assert redactor.text("tok-1234567890") == "tok-1234567890"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_a_stream_never_lets_a_split_secret_through(size: int) -> None:
    text = "the token is tok-1234567890, and tok-12 is not; tok-1234567890-and-more!"
    stream = StreamRedactor(Redactor(SECRETS))
    pieces = [stream.feed(text[i : i + size]) for i in range(0, len(text), size)]
    pieces.append(stream.flush())

    assert "".join(pieces) == ("the token is [secret:TOKEN], and tok-12 is not; [secret:LONGER]!")
    for piece in pieces:
        assert "1234567890" not in piece


def test_overlapping_values_are_never_let_through_in_parts() -> None:
    stream = StreamRedactor(Redactor({"A": "abcdef", "B": "cdefgh"}))

    written = stream.feed("xx abcdef") + stream.feed("!") + stream.feed(" cdefg") + stream.feed("h")

    assert written + stream.flush() == "xx [secret:A]! [secret:B]"


def test_text_held_back_is_released_once_it_is_no_secret() -> None:
    stream = StreamRedactor(Redactor(SECRETS))

    assert stream.feed("abc tok-12") == "abc "
    assert stream.feed("x") == "tok-12x"
    assert stream.feed(" tok") == " "
    assert stream.flush() == "tok"
