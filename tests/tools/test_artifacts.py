"""The workspace's files in and out: snapshots, outputs, placed inputs and installed skills.

The workspace is the agent's, so these tests plant what a hostile agent would (symlinks out,
FIFOs, traversal entries in archives) and check nothing outside it is read or written.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from corral.tools import artifacts, skills
from corral.tools.artifacts import MissingInput, UnsafePath
from corral.tools.skills import Skill, SkillError

SKILL_MD = "---\nname: csv-tools\ndescription: >\n  Reads and\n  writes CSV.\n---\n# Steps\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the workspace holding a secret."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret").write_text("server secret")
    return directory


def write(root: Path, relative: str, content: bytes | str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


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


# -- snapshot and changed ----------------------------------------------------------------------


def test_changed_lists_new_and_modified_files_but_not_untouched_ones(root):
    write(root, "same.txt", "same")
    write(root, "grows.txt", "a")
    retimed = write(root, "retimed.txt", "abc")
    before = artifacts.snapshot(root)

    write(root, "grows.txt", "ab")
    write(root, "new/deep/file.md", "new")
    info = retimed.stat()
    os.utime(retimed, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000))

    assert artifacts.changed(root, before) == ["grows.txt", "new/deep/file.md", "retimed.txt"]


def test_snapshots_skip_skills_git_folders_and_symlinks(root, outside):
    write(root, "kept.txt", "x")
    write(root, ".skills/pdf/SKILL.md", "x")
    write(root, ".git/HEAD", "x")
    write(root, "vendor/lib/.git/config", "x")
    write(root, "docs/.skills/kept-here.md", "x")
    (root / "link-out").symlink_to(outside / "secret")
    (root / "dir-out").symlink_to(outside)

    assert sorted(artifacts.snapshot(root)) == ["docs/.skills/kept-here.md", "kept.txt"]


def test_a_snapshot_looks_at_a_bounded_number_of_entries(root):
    for i in range(20):
        write(root, f"f{i}.txt", "x")

    assert len(artifacts.snapshot(root, max_entries=5)) == 5


# -- read_outputs ------------------------------------------------------------------------------


def test_outputs_are_read_in_order_within_the_file_and_byte_bounds(root, caplog):
    write(root, "a.txt", b"a" * 10)
    write(root, "big.bin", b"b" * 100)
    write(root, "c.txt", b"c" * 10)
    write(root, "d.txt", b"d")

    with caplog.at_level(logging.WARNING, logger="corral.tools.artifacts"):
        read = artifacts.read_outputs(
            root, ["a.txt", "big.bin", "c.txt", "d.txt"], max_files=2, max_total_bytes=50
        )

    assert read == [("a.txt", b"a" * 10), ("c.txt", b"c" * 10)]
    [record] = [r for r in caplog.records if getattr(r, "action", "") == "outputs.dropped"]
    assert record.dropped_count == 2
    assert any(d.startswith("big.bin") for d in record.dropped)


def test_outputs_never_follow_symlinks_or_block_on_fifos(root, outside):
    write(root, "ok.txt", "fine")
    (root / "secret-link").symlink_to(outside / "secret")
    (root / "via").symlink_to(outside)
    os.mkfifo(root / "pipe")

    read = artifacts.read_outputs(root, ["secret-link", "via/secret", "pipe", "gone.txt", "ok.txt"])

    assert read == [("ok.txt", b"fine")]


def test_an_output_whose_name_cannot_be_stored_is_left_out(root):
    name = os.fsdecode(b"caf\xe9.txt")
    write(root, name, "x")
    write(root, "fine.txt", "y")

    assert artifacts.read_outputs(root, [name, "fine.txt"]) == [("fine.txt", b"y")]


def test_tar_gz_holds_the_outputs_with_their_paths(root):
    outputs = [("a.txt", b"a"), ("dir/b.bin", bytes(range(256)))]

    archive = artifacts.tar_gz(outputs, mtime_s=1_700_000_000)

    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
        members = bundle.getmembers()
        assert [(m.name, m.mtime) for m in members] == [
            ("a.txt", 1_700_000_000),
            ("dir/b.bin", 1_700_000_000),
        ]
        assert [bundle.extractfile(m).read() for m in members] == [b"a", bytes(range(256))]


# -- place and resolve_inputs ------------------------------------------------------------------


def test_place_writes_inside_the_workspace_creating_folders(root):
    artifacts.place(root, "data/in/weather.csv", b"city\n")
    artifacts.place(root, "./data//in/weather.csv", b"replaced\n")

    assert (root / "data/in/weather.csv").read_bytes() == b"replaced\n"


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "/tmp/escape.txt", ""])
def test_place_refuses_paths_that_leave_the_workspace(root, path):
    with pytest.raises(UnsafePath):
        artifacts.place(root, path, b"x")

    assert not (root.parent / "escape.txt").exists()


def test_place_refuses_to_write_through_a_symlink_out_of_the_workspace(root, outside):
    (root / "out").symlink_to(outside)
    (root / "secret").symlink_to(outside / "secret")

    with pytest.raises(UnsafePath):
        artifacts.place(root, "out/planted.txt", b"x")
    with pytest.raises(UnsafePath):
        artifacts.place(root, "secret", b"overwritten")

    assert not (outside / "planted.txt").exists()
    assert (outside / "secret").read_text() == "server secret"


def test_inputs_resolve_from_uploads_and_inline_content():
    entries = [
        {"path": "a.csv", "file_id": "file_1"},
        {"path": "b.bin", "content_base64": base64.b64encode(b"\x00\xff").decode()},
    ]

    resolved = artifacts.resolve_inputs(entries, {"file_1": b"csv"})

    assert resolved == [("a.csv", b"csv"), ("b.bin", b"\x00\xff")]
    with pytest.raises(MissingInput, match="file_1"):
        artifacts.resolve_inputs(entries, {})


# -- skills ------------------------------------------------------------------------------------


def test_a_zip_skill_is_installed_under_its_name_and_announced(root):
    archive = a_zip({"SKILL.md": SKILL_MD, "scripts/run.sh": "#!/bin/sh\n", "ref/a.md": "A"})

    skill = skills.install_skill(root, archive)

    assert skill == Skill(
        name="csv-tools", description="Reads and writes CSV.", path=".skills/csv-tools"
    )
    folder = root / ".skills/csv-tools"
    assert (folder / "SKILL.md").read_text() == SKILL_MD
    assert (folder / "ref/a.md").read_text() == "A"
    assert os.access(folder / "scripts/run.sh", os.X_OK)
    assert not os.access(folder / "ref/a.md", os.X_OK)
    text = skills.announce([skill])
    assert "csv-tools: Reads and writes CSV." in text
    assert ".skills/csv-tools/SKILL.md" in text


def test_a_tar_gz_skill_in_one_top_level_folder_is_installed_without_that_folder(root):
    archive = a_tar_gz({"pdf/SKILL.md": "---\nname: pdf\n---\nBody", "pdf/fill.py": "x"})

    skill = skills.install_skill(root, archive)

    assert (skill.name, skill.description) == ("pdf", "")
    assert sorted(p.name for p in (root / ".skills/pdf").iterdir()) == ["SKILL.md", "fill.py"]


def test_installing_a_skill_again_replaces_the_previous_version(root):
    skills.install_skill(root, a_zip({"SKILL.md": SKILL_MD, "old.md": "old"}))

    skills.install_skill(root, a_zip({"SKILL.md": SKILL_MD, "new.md": "new"}))

    assert sorted(p.name for p in (root / ".skills/csv-tools").iterdir()) == [
        "SKILL.md",
        "new.md",
    ]
    assert [p.name for p in (root / ".skills").iterdir()] == ["csv-tools"]


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
def test_a_bad_skill_archive_is_refused_and_nothing_is_written(
    root, outside, pack, entries, symlinks, message
):
    with pytest.raises(SkillError, match=message):
        skills.install_skill(root, pack(entries, symlinks=symlinks))

    assert not (root / ".skills").exists() or list((root / ".skills").iterdir()) == []
    assert sorted(p.name for p in root.parent.iterdir()) == ["outside", "workspace"]
    assert (outside / "secret").read_text() == "server secret"


def test_read_skill_checks_an_archive_without_writing_anything(root):
    assert skills.read_skill(a_zip({"SKILL.md": SKILL_MD})) == (
        "csv-tools",
        "Reads and writes CSV.",
    )
    with pytest.raises(SkillError, match="not a readable"):
        skills.read_skill(b"plain text, not an archive")


def test_a_skill_larger_than_the_limit_is_refused(root, monkeypatch):
    monkeypatch.setattr(skills, "MAX_SKILL_BYTES", 1000)
    bomb = a_zip({"SKILL.md": SKILL_MD, "zeros.bin": b"\0" * 100_000})

    assert len(bomb) < 1000
    with pytest.raises(SkillError, match="larger than"):
        skills.install_skill(root, bomb)


def test_a_skills_folder_that_is_a_symlink_out_of_the_workspace_is_refused(root, outside):
    (root / ".skills").symlink_to(outside)

    with pytest.raises(UnsafePath):
        skills.install_skill(root, a_zip({"SKILL.md": SKILL_MD}))

    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_announcing_no_skills_adds_nothing():
    assert skills.announce([]) == ""
