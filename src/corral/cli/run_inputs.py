"""What `corral run` gives a run besides its prompt: provider keys, input files and skills.

A provider key is best read from the environment, which keeps it out of shell history and
process lists; no key is ever printed, not even in an error. Local files are uploaded first,
so a run can be handed a file or a skill in one command.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Annotated

import typer

from corral.cli import output
from corral.client import Corral
from corral.types.files import File, RunFileRef

ProviderKeySpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--provider-key",
        metavar="PROVIDER[=SOURCE]",
        help="A provider key for this run only (repeatable). PROVIDER alone reads "
        "$PROVIDER_API_KEY (anthropic: $ANTHROPIC_API_KEY); PROVIDER=env:VAR reads $VAR; "
        "PROVIDER=secret:NAME uses the workspace secret NAME; PROVIDER=KEY is the key itself "
        "(visible in shell history). Never printed.",
    ),
]
FilePaths = Annotated[
    list[str] | None,
    typer.Option(
        "--file",
        metavar="PATH_OR_ID",
        help="A file for the run's workspace, placed under its name (repeatable): a local "
        "file (uploaded first) or an uploaded file's id (file_…).",
    ),
]
Skills = Annotated[
    list[str] | None,
    typer.Option(
        "--skill",
        metavar="NAME_OR_ID",
        help="A skill for the run (repeatable): an uploaded archive's id (file_…) or name, "
        "or a local .zip or .tar.gz of a folder holding a SKILL.md (uploaded first).",
    ),
]

_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
FILE_ID_PREFIX = "file_"
NAME_LOOKUP_LIMIT = 1_000
"""Most uploads searched for a skill given by name (newest first)."""


def provider_keys(specs: list[str] | None) -> dict[str, str] | None:
    """The run's `api_keys` from `--provider-key` specs; a usage error never shows a key."""
    if not specs:
        return None
    keys: dict[str, str] = {}
    for spec in specs:
        provider, equals, source = spec.partition("=")
        if not _PROVIDER.match(provider):
            raise typer.BadParameter(
                "expected PROVIDER[=SOURCE] with a provider name such as anthropic",
                param_hint="--provider-key",
            )
        if not equals:
            source = f"env:{key_variable(provider)}"
        keys[provider] = _key(provider, source)
    return keys


def key_variable(provider: str) -> str:
    """`ANTHROPIC_API_KEY`: where `--provider-key anthropic` looks."""
    return re.sub(r"[^A-Z0-9]", "_", provider.upper()) + "_API_KEY"


def _key(provider: str, source: str) -> str:
    if source.startswith("env:"):
        variable = source.removeprefix("env:")
        value = os.environ.get(variable, "").strip()
        if not value:
            raise typer.BadParameter(
                f"{variable} is not set: it should hold the {provider} key",
                param_hint="--provider-key",
            )
        return value
    if source.startswith("secret:"):
        return "${secret:" + source.removeprefix("secret:") + "}"
    if not source:
        raise typer.BadParameter(f"no key given for {provider}", param_hint="--provider-key")
    return source


def _upload_local(corral: Corral, item: str) -> File | None:
    """The upload of `item` when it names a local file (said on stderr), else None."""
    if not Path(item).is_file():
        return None
    uploaded = corral.files.create(Path(item))
    output.note(f"uploaded {item} as {uploaded.id}")
    return uploaded


def input_files(corral: Corral, given: list[str] | None) -> list[RunFileRef]:
    """Each `--file` as an upload placed under its name at the workspace's top."""
    refs: list[RunFileRef] = []
    for item in given or ():
        if (uploaded := _upload_local(corral, item)) is not None:
            refs.append(RunFileRef(path=uploaded.name, file_id=uploaded.id))
        elif item.startswith(FILE_ID_PREFIX):
            found = corral.files.retrieve(item)
            refs.append(RunFileRef(path=found.name, file_id=found.id))
        else:
            raise typer.BadParameter(
                f"{item!r} is neither a file nor an uploaded file's id", param_hint="--file"
            )
    return refs


def skills(corral: Corral, given: list[str] | None) -> list[str]:
    """The file ids of each `--skill`: a local archive is uploaded, a name looked up."""
    ids: list[str] = []
    for item in given or ():
        if (uploaded := _upload_local(corral, item)) is not None:
            ids.append(uploaded.id)
        elif item.startswith(FILE_ID_PREFIX):
            ids.append(item)
        else:
            ids.append(_upload_named(corral, item))
    return ids


def _upload_named(corral: Corral, name: str) -> str:
    """The newest upload called `name`."""
    uploads = itertools.islice(corral.files.list(limit=100), NAME_LOOKUP_LIMIT)
    for uploaded in uploads:
        if uploaded.name == name:
            return uploaded.id
    raise typer.BadParameter(
        f"{name!r} is not a local archive, an uploaded file's id, or the name of an upload "
        "(`corral files list`)",
        param_hint="--skill",
    )
