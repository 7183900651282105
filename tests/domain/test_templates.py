"""Templates made to render user text as it is, whatever syntax the text holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.domain.templates import check_template, literal, literal_text, render

TRICKY = st.text(alphabet=st.one_of(st.sampled_from(list("{}%#'\r\n -\\")), st.characters()))


@given(TRICKY)
def test_a_literal_template_renders_its_text_and_reads_back(text):
    template = literal(text)
    check_template(template)
    assert render(template, {}, max_chars=10**6) == text
    assert literal_text(template) == text


@pytest.mark.parametrize(
    ("text", "template"),
    [
        ("plain text", "plain text"),
        ("{{ payload }}", "{{ '{{' }} payload }}"),
        ("{% raw %}", "{{ '{%' }} raw %}"),
        ("{{ a{\r\n", "{{ '{{' }} a{{ '{\\r' }}\n"),
        ("no syntax\r\n", "no syntax\r\n"),
    ],
    ids=["plain", "expression", "statement", "carriage-return", "plain-carriage-return"],
)
def test_syntax_in_text_becomes_an_expression_of_itself(text, template):
    assert literal(text) == template


def test_a_template_with_its_own_syntax_is_no_literal():
    assert literal_text("Hello {{ payload.name }}") is None
