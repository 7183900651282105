"""`corral files …`, `corral outputs` and `corral download`: files into runs, and out of them."""

from __future__ import annotations

import io
import itertools
import sys
import tarfile
from pathlib import Path
from typing import Annotated

import typer

from corral.cli import options, output
from corral.cli.context import client
from corral.cli.errors import CommandError

files_app = typer.Typer(help="Files to give runs (as inputs or skills).", no_args_is_help=True)

RunId = Annotated[str, typer.Argument(help="The run's id (run_…).")]


def human_size(size: int) -> str:
    """`512 B`, `1.5 KB`, `12.0 MB`."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@files_app.command("upload")
def upload(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="The file to upload, or - to read it from stdin (with --name).",
            dir_okay=False,
            allow_dash=True,
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Name to keep it under (default: its own).")
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Upload a file; prints its id (so `FILE=$(corral files upload data.csv)` works)."""
    if str(path) == "-":
        if name is None:
            raise typer.BadParameter("reading from stdin needs --name", param_hint="--name")
        file = client(ctx).files.create(sys.stdin.buffer.read(), name=name)
    elif not path.is_file():
        raise typer.BadParameter(f"{str(path)!r} is not a file", param_hint="PATH")
    else:
        file = client(ctx).files.create(path, name=name)
    if as_json:
        output.print_json(file)
        return
    output.line(file.id)
    output.note(f"uploaded {file.name} ({human_size(file.size)}, {file.media_type}) as {file.id}")


@files_app.command("list")
def list_files(
    ctx: typer.Context, limit: options.Limit = 20, as_json: options.JsonFlag = False
) -> None:
    """List uploaded files, newest first."""
    found = list(itertools.islice(client(ctx).files.list(limit=min(limit, 100)), limit))
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["ID", "NAME", "TYPE", "SIZE", "CREATED"],
        (
            [f.id, f.name, f.media_type, human_size(f.size), output.when(f.created_at)]
            for f in found
        ),
        empty="no files",
    )


@files_app.command("delete")
def delete(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(help="The file's id (file_…).")],
    as_json: options.JsonFlag = False,
) -> None:
    """Delete an uploaded file."""
    client(ctx).files.delete(file_id)
    if as_json:
        output.print_json({"id": file_id, "deleted": True})
        return
    output.line(f"deleted {file_id}")


def outputs(ctx: typer.Context, run_id: RunId, as_json: options.JsonFlag = False) -> None:
    """List the files a run created or changed (collected when it ends)."""
    corral = client(ctx)
    found = corral.runs.outputs.list(run_id)
    if as_json:
        output.print_json(found)
        return
    if not found:
        run = corral.runs.retrieve(run_id)
        if run.ended_at is None:
            output.note(f"run {run_id} is {run.status}: its outputs are collected when it ends")
            return
    output.table(
        ["PATH", "SIZE", "SHA256", "CREATED"],
        ([o.path, human_size(o.size), o.sha256[:12], output.when(o.created_at)] for o in found),
        empty=f"run {run_id} left no outputs",
    )


def download(
    ctx: typer.Context,
    run_id: RunId,
    path: Annotated[
        str | None,
        typer.Argument(help="One output to download (default: all of them)."),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to save: a file or folder for one output (- for stdout), the folder "
            "to extract all of them into (default: ./RUN_ID).",
        ),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Download one output of a run, or all of them into a folder."""
    corral = client(ctx)
    if path is not None:
        content = corral.runs.outputs.download(run_id, path)
        if dest is not None and str(dest) == "-":
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
            return
        target = dest or Path(path.rsplit("/", 1)[-1])
        if target.is_dir():
            target = target / path.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        saved = [(path, target, len(content))]
    else:
        folder = dest or Path(run_id)
        if str(folder) == "-":
            raise typer.BadParameter("- needs one output PATH", param_hint="--output")
        saved = _extract(corral.runs.outputs.archive(run_id), folder)
    if as_json:
        output.print_json(
            [{"path": name, "saved_to": str(to), "size": size} for name, to, size in saved]
        )
        return
    for _, to, size in saved:
        output.line(f"{to}  ({human_size(size)})")
    if not saved:
        output.note(f"run {run_id} left no outputs")


def _extract(archive: bytes, folder: Path) -> list[tuple[str, Path, int]]:
    """Unpack the outputs archive into `folder`; what was saved where."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
            members = [m for m in bundle.getmembers() if m.isreg()]
            # The "data" filter refuses absolute paths, `..`, links and devices.
            bundle.extractall(folder, members=members, filter="data")
    except tarfile.TarError as error:
        message = f"the outputs archive is unreadable: {error}"
        raise CommandError("invalid_archive", message) from error
    return [(m.name, folder / m.name, m.size) for m in members]


def register(app: typer.Typer) -> None:
    """Add `corral files`, `corral outputs` and `corral download` to the root command."""
    app.add_typer(files_app, name="files", rich_help_panel=options.HELP_PANEL)
    app.command("outputs", rich_help_panel=options.HELP_PANEL)(outputs)
    app.command("download", rich_help_panel=options.HELP_PANEL)(download)
