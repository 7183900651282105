"""`corral --version` answers before the command line loads; shell completion is on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from corral import __version__
from tests.cli.conftest import CORRAL, clean_environ


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_the_version_is_printed_without_loading_the_sdk_or_the_commands(flag):
    probe = (
        f"import sys; sys.argv = ['corral', {flag!r}]\n"
        "from corral.cli.entry import main\n"
        "main()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('corral.', 'typer', 'httpx')))\n"
        "print(loaded)\n"
    )

    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()

    assert shown == [
        f"corral {__version__}",
        "['corral._version', 'corral.cli', 'corral.cli.entry']",
    ]


@pytest.mark.parametrize(
    "args", [["--version"], ["--api-key", "k", "--version"]], ids=["alone", "after-an-option"]
)
def test_the_command_line_prints_the_version_wherever_the_flag_is(args):
    for command in ([CORRAL, *args], [sys.executable, "-m", "corral", *args]):
        result = subprocess.run(
            command, capture_output=True, text=True, env=clean_environ(), timeout=60
        )

        assert (result.returncode, result.stdout) == (0, f"corral {__version__}\n"), result


def test_help_offers_the_version_and_shell_completion():
    shown = subprocess.run(
        [CORRAL, "--help"], capture_output=True, text=True, env=clean_environ(), timeout=60
    ).stdout

    assert "--version" in shown
    assert "--install-completion" in shown and "--show-completion" in shown


def test_the_shell_completes_commands_and_options():
    def complete(words: str) -> list[str]:
        env = {
            **clean_environ(),
            "_CORRAL_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        done = subprocess.run([CORRAL], capture_output=True, text=True, env=env, timeout=60)
        return done.stdout.split()

    assert complete("corral runs to") == ["tool-result"]
    assert "--provider-key" in complete("corral run --pro")
