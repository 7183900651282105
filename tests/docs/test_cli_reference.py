"""Every command and option the docs show exists in the command line, so renaming one fails here.

Command lines are read from every `sh` block of the docs and the README (run or not) and from
cli.md's inline code (`corral runs events CHILD_ID`); each is walked down click's command tree,
as click would parse it: the global options, the command's path, then the command's options.
cli.md's prose names options on their own too (`--json`, `-M KEY=VALUE`): each must be an
option of a command of its section (`## corral runs` → `corral runs …`), or of any command in a
section about the command line as a whole.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from typing import Any

import pytest
import typer

from corral.cli.main import app
from tests.docs.markdown import DOCS, ROOT, blocks, doc_pages, inline_code, prose

CLI = DOCS / "cli.md"
_PUNCTUATION = "();<>|&\n"
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


@cache
def root() -> Any:
    return typer.main.get_command(app)


def subcommands(command: Any) -> dict[str, Any]:
    return dict(getattr(command, "commands", {}) or {})


def options(command: Any) -> dict[str, bool]:
    """The command's options, each with whether it takes a value."""
    found = {"--help": False}
    for param in command.params:
        if param.param_type_name == "option":
            takes_value = not (param.is_flag or param.count)
            found.update(dict.fromkeys([*param.opts, *param.secondary_opts], takes_value))
    return found


def every_command(command: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    found = {path: command}
    for name, child in subcommands(command).items():
        found.update(every_command(child, (*path, name)))
    return found


def command_lines(script: str) -> list[list[str]]:
    """The argument lists of the `corral` commands in a shell script."""
    script = _uncommented(script.replace("\\\n", " "))
    lexer = shlex.shlex(script, posix=True, punctuation_chars=_PUNCTUATION)
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""  # shlex's comments take their line break with them: see _uncommented
    found: list[list[str]] = []
    current: list[str] = []
    for token in [*lexer, ";"]:
        if set(token) <= set(_PUNCTUATION) or token in ("$", "`"):
            while current and _ASSIGNMENT.match(current[0]):
                current.pop(0)
            if current and current[0] == "corral":
                found.append(current[1:])
            current = []
        else:
            current.append(token)
    return found


def _uncommented(script: str) -> str:
    """`script` without its comments (a `#` starting a word, outside quotes, to the line's end)."""
    kept, quote, comment, previous = [], "", False, "\n"
    for char in script:
        if comment and char != "\n":
            continue
        comment = False
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            comment = True
            continue
        kept.append(char)
        previous = char
    return "".join(kept)


def check(argv: list[str]) -> list[str]:
    """What in `corral ARGV` the command line does not have."""
    command, path, problems = root(), ["corral"], []
    words = list(argv)
    while words:
        word = words.pop(0)
        if word.startswith("-") and word != "-":
            takes_value = options(command).get(word.split("=")[0])
            if takes_value is None:
                problems.append(f"{' '.join(path)} has no option {word}")
            elif takes_value and "=" not in word and words:
                words.pop(0)
        elif subcommands(command) and word in subcommands(command):
            command = subcommands(command)[word]
            path.append(word)
        elif subcommands(command):
            problems.append(f"{' '.join(path)} has no command {word}")
            break
    return problems


def shell_lines() -> list[tuple[str, list[str]]]:
    found = []
    for page in [*doc_pages(), ROOT / "README.md"]:
        for block in blocks(page):
            if block.lang == "sh":
                found += [(block.where, argv) for argv in command_lines(block.code)]
    return found


def prose_lines() -> list[tuple[str, list[str]]]:
    found = []
    for number, _, line in prose(CLI):
        for code in inline_code(line):
            if code.startswith("corral ") and "⇥" not in code:
                found.append((f"docs/cli.md:{number}", shlex.split(code)[1:]))
    return found


SHELL = shell_lines()
PROSE = prose_lines()


def test_the_docs_show_many_command_lines():
    assert len(SHELL) > 100
    assert len(PROSE) > 20


@pytest.mark.parametrize(("where", "argv"), SHELL + PROSE, ids=[w for w, _ in SHELL + PROSE])
def test_the_command_line_exists(where, argv):
    assert check(argv) == []


def _scope(heading: str) -> list[Any]:
    """The commands a section of cli.md is about: those its heading names, or all of them."""
    named = [code.split()[1:] for code in inline_code(heading) if code.startswith("corral ")]
    commands = every_command(root())
    if not named:
        return list(commands.values())
    return [
        command
        for path, command in commands.items()
        if any(tuple(path[: len(name)]) == tuple(name) for name in named)
    ]


def option_mentions() -> list[tuple[int, str, str]]:
    """`(line, section, option)` of each option cli.md's prose names in inline code."""
    found = []
    section = ""
    for number, _, line in prose(CLI):
        if line.startswith("## "):
            section = line
        for code in inline_code(line):
            if code.startswith("corral ") or not code.startswith("-"):
                continue
            found += [(number, section, option) for option in _OPTION.findall(code)]
    return found


MENTIONS = option_mentions()


def test_cli_md_names_many_options():
    assert len(MENTIONS) > 60


@pytest.mark.parametrize(
    ("line", "section", "option"), MENTIONS, ids=[f"{o} (line {n})" for n, _, o in MENTIONS]
)
def test_the_option_exists_where_the_docs_say(line, section, option):
    scope = _scope(section)
    assert any(option in options(command) for command in scope), (
        f"no command of {section!r} has {option}"
    )


def test_a_renamed_option_or_command_is_caught():
    assert check(["runs", "list", "--statuss", "failed"]) == [
        "corral runs list has no option --statuss"
    ]
    assert check(["runz", "list"]) == ["corral has no command runz"]
    assert check(["--base-url", "http://x", "runs", "list", "-n", "5"]) == []
    assert command_lines('X=$(corral a -b "c d" | jq .) # corral no\ncorral e < f') == [
        ["a", "-b", "c d"],
        ["e"],
    ]


def test_every_page_with_command_lines_is_read():
    assert {where.split(":")[0] for where, _ in SHELL} >= {"docs/cli.md", "README.md"}
