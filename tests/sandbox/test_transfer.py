"""The workspace's files in and out: listed, read as outputs, inputs placed, skills installed.

The workspace is the agent's, so these tests plant what a hostile agent would (symlinks out,
FIFOs, traversal entries in archives). The work is done by a real environment's tool server;
archives are checked in memory by the worker before anything is sent.
"""

from __future__ import annotations

import base64
import io
import stat
import tarfile
import zipfile
from typing import Any

import pytest

from corral.domain.run_spec import InputFile
from corral.sandbox.environment import Environment
from corral.tools import artifacts, skills
from corral.tools.artifacts import MissingInput
from corral.tools.skills import SkillError
from tests.sandbox.conftest import needs_sandbox, output

SKILL_MD = "---\nname: csv-tools\ndescription: >\n  Reads and\n  writes CSV.\n---\n# Steps\n"


async def put(environment: Environment, files: dict[str, bytes]) -> Any:
    entries = [{"path": path, "size": len(content)} for path, content in files.items()]
    return await environment.call(
        "put_files", {"files": entries}, payload=b"".join(files.values()), timeout_s=10
    )


async def install(environment: Environment, archive: bytes) -> Any:
    fields, payload = skills.install_request(skills.unpack_skill(archive))
    return await environment.call("install_skill", fields, payload=payload, timeout_s=10)


async def snapshot(environment: Environment, max_entries: int = 1000) -> dict[str, list[int]]:
    answer = await environment.call("snapshot", {"max_entries": max_entries}, timeout_s=10)
    assert answer.ok, answer.error
    return answer.fields["files"]  # type: ignore[no-any-return]


async def read_files(environment: Environment, paths: list[str], **bounds: int) -> Any:
    fields = {"paths": paths, "max_files": 500, "max_total_bytes": 10_000_000, **bounds}
    return await environment.call("read_files", fields, timeout_s=10, max_payload=10_000_000)


def a_zip(entries: dict[str, str | bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | (0o755 if name.endswith(".sh") else 0o644)) << 16
            bundle.writestr(info, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, target)
    return buffer.getvalue()


def a_tar_gz(entries: dict[str, str | bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, content in entries.items():
            data = content.encode() if isinstance(content, str) else content
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mode = 0o755 if name.endswith(".sh") else 0o644
            bundle.addfile(member, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            member = tarfile.TarInfo(name)
            member.type = tarfile.SYMTYPE
            member.linkname = target
            bundle.addfile(member)
    return buffer.getvalue()


# -- listing and outputs --------------------------------------------------------------------


@needs_sandbox
async def test_changed_lists_new_and_modified_files_but_not_untouched_ones(start):
    environment = await start()
    await output(environment, "echo same > same.txt; echo a > grows.txt; echo abc > retimed.txt")
    before = await snapshot(environment)

    await output(
        environment,
        "echo ab > grows.txt; mkdir -p new/deep && echo new > new/deep/file.md; "
        "touch -d '2001-01-01' retimed.txt",
    )

    assert artifacts.changed(before, await snapshot(environment)) == [
        "grows.txt",
        "new/deep/file.md",
        "retimed.txt",
    ]


@needs_sandbox
async def test_listings_skip_skills_git_folders_and_symlinks(start):
    environment = await start()
    await output(
        environment,
        "mkdir -p .skills/pdf .git vendor/lib/.git docs/.skills && touch kept.txt "
        ".skills/pdf/SKILL.md .git/HEAD vendor/lib/.git/config docs/.skills/kept-here.md && "
        "ln -s /etc/passwd link-out && ln -s /etc dir-out",
    )

    assert sorted(await snapshot(environment)) == ["docs/.skills/kept-here.md", "kept.txt"]


@needs_sandbox
async def test_a_listing_looks_at_a_bounded_number_of_entries(start):
    environment = await start()
    await output(environment, "for i in $(seq 20); do touch f$i.txt; done")

    assert len(await snapshot(environment, max_entries=5)) == 5


@needs_sandbox
async def test_outputs_are_read_in_order_within_the_file_and_byte_bounds(start):
    environment = await start()
    await output(
        environment,
        "head -c 10 /dev/zero | tr '\\0' a > a.txt; head -c 100 /dev/zero > big.bin; "
        "head -c 10 /dev/zero | tr '\\0' c > c.txt; echo -n d > d.txt",
    )

    answer = await read_files(
        environment, ["a.txt", "big.bin", "c.txt", "d.txt"], max_files=2, max_total_bytes=50
    )

    assert answer.fields["files"] == [{"path": "a.txt", "size": 10}, {"path": "c.txt", "size": 10}]
    assert answer.payload == b"a" * 10 + b"c" * 10
    assert {path for path, _ in answer.fields["dropped"]} == {"big.bin", "d.txt"}


@needs_sandbox
async def test_outputs_never_follow_symlinks_or_block_on_fifos(start):
    environment = await start()
    await output(
        environment,
        "echo -n fine > ok.txt; ln -s /etc/passwd secret-link; ln -s /etc via; mkfifo pipe",
    )

    answer = await read_files(environment, ["secret-link", "via/passwd", "pipe", "gone", "ok.txt"])

    assert answer.fields["files"] == [{"path": "ok.txt", "size": 4}]
    assert answer.payload == b"fine"


@needs_sandbox
async def test_a_name_that_cannot_be_stored_is_not_an_output(start):
    environment = await start()
    await output(environment, "touch $'caf\\xe9.txt' fine.txt")

    listed = await snapshot(environment)

    assert "fine.txt" in listed and len(listed) == 2
    answer = await read_files(environment, artifacts.changed({}, listed))
    assert [f["path"] for f in answer.fields["files"]] == ["fine.txt"]


def test_tar_gz_holds_the_outputs_with_their_paths():
    outputs = [("a.txt", b"a"), ("dir/b.bin", bytes(range(256)))]

    archive = artifacts.tar_gz(outputs, mtime_s=1_700_000_000)

    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
        members = bundle.getmembers()
        assert [(m.name, m.mtime) for m in members] == [
            ("a.txt", 1_700_000_000),
            ("dir/b.bin", 1_700_000_000),
        ]
        assert [bundle.extractfile(m).read() for m in members] == [b"a", bytes(range(256))]


# -- inputs ----------------------------------------------------------------------------------


@needs_sandbox
async def test_inputs_are_placed_inside_the_workspace_creating_folders(start):
    environment = await start()

    first = await put(environment, {"data/in/weather.csv": b"city\n"})
    again = await put(environment, {"./data//in/weather.csv": b"replaced\n"})

    assert first.ok and again.ok
    assert await output(environment, "cat data/in/weather.csv") == "replaced\n"


@needs_sandbox
@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "/tmp/escape.txt"])
async def test_inputs_outside_the_workspace_are_refused(start, path):
    environment = await start()

    answer = await put(environment, {path: b"x"})

    assert not answer.ok and "outside the workspace" in str(answer.error)
    assert await output(environment, "ls -A /tmp; echo end") == "end\n"


@needs_sandbox
async def test_inputs_are_not_written_through_a_symlink_out_of_the_workspace(start):
    environment = await start()
    await output(environment, "mkdir -p /tmp/outside && ln -s /tmp/outside out")

    answer = await put(environment, {"out/planted.txt": b"x"})

    assert not answer.ok
    assert await output(environment, "ls -A /tmp/outside; echo end") == "end\n"


def test_inputs_resolve_from_uploads_and_inline_content():
    entries = [
        InputFile(path="a.csv", file_id="file_1"),
        InputFile(path="b.bin", content_base64=base64.b64encode(b"\x00\xff").decode()),
    ]

    resolved = artifacts.resolve_inputs(entries, {"file_1": b"csv"})

    assert resolved == [("a.csv", b"csv"), ("b.bin", b"\x00\xff")]
    with pytest.raises(MissingInput, match="file_1"):
        artifacts.resolve_inputs(entries, {})


# -- skills ------------------------------------------------------------------------------------


@needs_sandbox
async def test_a_zip_skill_is_installed_under_its_name_and_announced(start):
    environment = await start()
    archive = a_zip({"SKILL.md": SKILL_MD, "scripts/run.sh": "#!/bin/sh\n", "ref/a.md": "A"})

    answer = await install(environment, archive)

    assert answer.ok, answer.error
    assert answer.fields["path"] == ".skills/csv-tools"
    seen = await output(
        environment,
        "cd .skills/csv-tools && cat SKILL.md && cat ref/a.md && test -x scripts/run.sh && "
        "test ! -x ref/a.md && echo modes-ok",
    )
    assert seen == SKILL_MD + "Amodes-ok\n"
    unpacked = skills.unpack_skill(archive)
    text = skills.announce(
        [skills.Skill(name=unpacked.name, description=unpacked.description, path=unpacked.path)]
    )
    assert "csv-tools: Reads and writes CSV." in text
    assert ".skills/csv-tools/SKILL.md" in text


def test_a_tar_gz_skill_in_one_top_level_folder_is_unpacked_without_that_folder():
    archive = a_tar_gz({"pdf/SKILL.md": "---\nname: pdf\n---\nBody", "pdf/fill.py": "x"})

    skill = skills.unpack_skill(archive)

    assert (skill.name, skill.description) == ("pdf", "")
    assert sorted(f.path for f in skill.files) == ["SKILL.md", "fill.py"]


@needs_sandbox
async def test_installing_a_skill_again_replaces_the_previous_version(start):
    environment = await start()
    await install(environment, a_zip({"SKILL.md": SKILL_MD, "old.md": "old"}))

    await install(environment, a_zip({"SKILL.md": SKILL_MD, "new.md": "new"}))

    listing = await output(environment, "ls -A .skills/csv-tools; echo --; ls -A .skills")
    assert listing == "SKILL.md\nnew.md\n--\ncsv-tools\n"


@pytest.mark.parametrize("pack", [a_zip, a_tar_gz], ids=["zip", "tar.gz"])
@pytest.mark.parametrize(
    ("entries", "symlinks", "message"),
    [
        ({"SKILL.md": SKILL_MD, "../escape.txt": "x"}, None, "outside"),
        ({"SKILL.md": SKILL_MD, "a/../../escape.txt": "x"}, None, "outside"),
        ({"SKILL.md": SKILL_MD, "/tmp/escape.txt": "x"}, None, "absolute"),
        ({"SKILL.md": SKILL_MD}, {"link": "../../outside/secret"}, "link"),
        ({"README.md": "no skill here"}, None, "SKILL.md"),
        ({"a/SKILL.md": SKILL_MD, "b/other.md": "x"}, None, "SKILL.md"),
        ({"SKILL.md": "no front matter"}, None, "front matter"),
        ({"SKILL.md": "---\ndescription: nameless\n---\n"}, None, "'name'"),
        ({"SKILL.md": "---\nname: ../evil\n---\n"}, None, "skill name"),
        ({"SKILL.md": "---\nname: [unclosed\n---\n"}, None, "YAML"),
    ],
    ids=[
        "dotdot",
        "inner-dotdot",
        "absolute",
        "symlink",
        "no-skill-md",
        "two-top-folders",
        "no-front-matter",
        "no-name",
        "bad-name",
        "bad-yaml",
    ],
)
def test_a_bad_skill_archive_is_refused_before_anything_is_sent(pack, entries, symlinks, message):
    with pytest.raises(SkillError, match=message):
        skills.unpack_skill(pack(entries, symlinks=symlinks))


def test_read_skill_checks_an_archive_without_writing_anything():
    assert skills.read_skill(a_zip({"SKILL.md": SKILL_MD})) == (
        "csv-tools",
        "Reads and writes CSV.",
    )
    with pytest.raises(SkillError, match="not a readable"):
        skills.read_skill(b"plain text, not an archive")


def test_a_skill_larger_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(skills, "MAX_SKILL_BYTES", 1000)
    bomb = a_zip({"SKILL.md": SKILL_MD, "zeros.bin": b"\0" * 100_000})

    assert len(bomb) < 1000
    with pytest.raises(SkillError, match="larger than"):
        skills.unpack_skill(bomb)


@needs_sandbox
async def test_a_skills_folder_that_is_a_symlink_out_of_the_workspace_is_refused(start):
    environment = await start()
    await output(environment, "mkdir -p /tmp/outside && ln -s /tmp/outside .skills")

    answer = await install(environment, a_zip({"SKILL.md": SKILL_MD}))

    assert not answer.ok
    assert "symlink" in str(answer.error) or "outside the workspace" in str(answer.error)
    assert await output(environment, "ls -A /tmp/outside; echo end") == "end\n"


def test_announcing_no_skills_adds_nothing():
    assert skills.announce([]) == ""
