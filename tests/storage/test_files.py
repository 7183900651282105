from __future__ import annotations

import hashlib
from datetime import timedelta

from corral.ids import new_id
from corral.storage import files, runs, workspaces
from tests.storage.conftest import NOW

BLOB = bytes(range(256)) * 16


def file_values(workspace: str, content: bytes = BLOB, **overrides):
    values = {
        "id": new_id("file"),
        "workspace_id": workspace,
        "name": "blob.bin",
        "media_type": "application/octet-stream",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content": content,
        "created_at": NOW,
    }
    values.update(overrides)
    return values


async def test_a_file_comes_back_with_its_content_only_when_asked(database, workspace):
    values = file_values(workspace)
    await database.write(files.insert_file, values)

    bare = await database.read(files.get_file, workspace, values["id"], with_content=False)
    full = await database.read(files.get_file, workspace, values["id"], with_content=True)

    assert bare is not None and full is not None
    assert bare.content is None
    assert full.content == BLOB
    assert (bare.name, bare.size, bare.sha256, bare.created_at) == (
        "blob.bin",
        len(BLOB),
        values["sha256"],
        NOW,
    )


async def test_files_are_scoped_to_their_workspace(database, workspace):
    await database.write(workspaces.insert_workspace, workspace_id="ws_2", name="other", now=NOW)
    mine, theirs = file_values(workspace, b"mine"), file_values("ws_2", b"theirs")
    for values in (mine, theirs):
        await database.write(files.insert_file, values)

    ids = [mine["id"], theirs["id"], "file_missing"]

    assert await database.read(files.file_contents, workspace, ids) == {mine["id"]: b"mine"}
    assert await database.read(files.existing_files, workspace, ids) == {mine["id"]}
    assert await database.read(files.get_file, workspace, theirs["id"], with_content=True) is None
    assert not await database.write(files.delete_file, workspace, theirs["id"])
    assert [f.id for f in await database.read(files.list_files, workspace, 10)] == [mine["id"]]


async def test_files_list_newest_first_after_a_cursor_and_deletes_take_them_away(
    database, workspace
):
    made = []
    for i in range(3):
        values = file_values(workspace, created_at=NOW + timedelta(seconds=i))
        await database.write(files.insert_file, values)
        made.append(values["id"])

    first = await database.read(files.list_files, workspace, 2)
    rest = await database.read(files.list_files, workspace, 2, first[-1].id)
    deleted = await database.write(files.delete_file, workspace, made[0])

    assert [f.id for f in first] == [made[2], made[1]]
    assert [f.id for f in rest] == [made[0]]
    assert all(f.content is None for f in first)
    assert deleted
    assert [f.id for f in await database.read(files.list_files, workspace, 10)] == made[:0:-1]


async def test_saved_outputs_replace_the_previous_ones(database, make_run):
    run_id = await make_run()
    await database.write(files.save_outputs, run_id, [("old.txt", b"old")], NOW)
    outputs = [("z/last.bin", BLOB), ("a.txt", b"")]

    await database.write(files.save_outputs, run_id, outputs, NOW)

    listed = await database.read(files.list_outputs, run_id)
    assert [(o.path, o.size, o.sha256) for o in listed] == [
        ("a.txt", 0, hashlib.sha256(b"").hexdigest()),
        ("z/last.bin", len(BLOB), hashlib.sha256(BLOB).hexdigest()),
    ]
    assert await database.read(files.all_outputs, run_id) == [("a.txt", b""), ("z/last.bin", BLOB)]
    found = await database.read(files.get_output, run_id, "z/last.bin")
    assert found is not None and found[1] == BLOB and found[0].created_at == NOW
    assert await database.read(files.get_output, run_id, "old.txt") is None


async def test_deleting_a_run_deletes_its_outputs_but_no_uploaded_file(
    database, workspace, make_run
):
    run_id = await make_run(status="completed", ended_at=NOW)
    await database.write(files.save_outputs, run_id, [("a.txt", b"a")], NOW)
    values = file_values(workspace)
    await database.write(files.insert_file, values)

    assert await database.write(runs.delete_ended, workspace, run_id)

    assert await database.read(files.all_outputs, run_id) == []
    assert await database.read(files.existing_files, workspace, [values["id"]]) == {values["id"]}


async def test_stored_bytes_count_a_workspaces_uploads_and_outputs_and_no_one_elses(
    database, workspace, make_run
):
    await database.write(workspaces.insert_workspace, workspace_id="ws_2", name="other", now=NOW)
    other = await make_run(workspace_id="ws_2")
    await database.write(files.save_outputs, other, [("big.bin", BLOB * 4)], NOW)
    mine = await make_run()
    await database.write(files.save_outputs, mine, [("a.txt", b"abc"), ("b.txt", b"de")], NOW)
    await database.write(files.insert_file, file_values(workspace, content=b"12345"))

    assert await database.read(files.stored_bytes, workspace) == 3 + 2 + 5
    assert await database.read(files.stored_bytes, "ws_2") == len(BLOB) * 4
