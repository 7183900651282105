from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import pytest

from corral.client import ConflictError, InvalidRequestError, NotFoundError
from corral.client.resources.files import AsyncFiles, AsyncRunOutputs, Files, RunOutputs
from corral.storage import files as file_store
from corral.types.files import File, RunFileRef, RunOutput
from corral.types.runs import RunStatus
from tests.client.conftest import drain
from tests.client.test_client import public_attributes, public_methods, shape

BLOB = bytes(range(256)) * 8
OUTPUTS = [("report.md", b"# Done\n"), ("out/data.bin", BLOB)]
WEATHER = {
    "type": "client",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def skill_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("SKILL.md", "---\nname: notes\ndescription: Takes notes.\n---\nWrite.\n")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("sync", "async_"),
    [(Files, AsyncFiles), (RunOutputs, AsyncRunOutputs)],
    ids=["Files", "RunOutputs"],
)
def test_the_sync_and_async_file_resources_match(sync, async_):
    assert public_attributes(sync) == public_attributes(async_)
    sync_methods, async_methods = public_methods(sync), public_methods(async_)
    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert shape(signature) == shape(async_methods[name]), name


async def test_a_file_uploads_from_a_path_or_bytes_and_comes_back(sdk, tmp_path):
    path = tmp_path / "weather.csv"
    path.write_bytes(b"city,temp\nOslo,4\n")

    from_path = await sdk.files.create(path)
    from_bytes = await sdk.files.create(BLOB, name="blob.bin")
    typed = await sdk.files.create(b"{}", name="data", media_type="application/json")

    assert isinstance(from_path, File)
    assert (from_path.name, from_path.media_type, from_path.size) == ("weather.csv", "text/csv", 17)
    assert from_bytes.sha256 == hashlib.sha256(BLOB).hexdigest()
    assert typed.media_type == "application/json"
    assert await sdk.files.retrieve(from_bytes.id) == from_bytes
    assert await sdk.files.content(from_bytes.id) == BLOB
    listed = await drain(await sdk.files.list(limit=2))
    assert [f.id for f in listed] == [typed.id, from_bytes.id, from_path.id]


async def test_a_deleted_file_is_not_found_and_bytes_need_a_name(sdk):
    file = await sdk.files.create(b"x", name="x.txt")

    await sdk.files.delete(file.id)

    with pytest.raises(NotFoundError) as error:
        await sdk.files.retrieve(file.id)
    assert error.value.code == "not_found"
    with pytest.raises(ValueError, match="name="):
        await sdk.files.create(b"x")


async def test_a_run_takes_files_and_skills_and_refuses_a_missing_one(sdk):
    data = await sdk.files.create(b"a,b\n", name="in.csv")
    skill = await sdk.files.create(skill_archive(), name="notes.zip")

    run = await sdk.runs.run(
        input="done",
        model="test",
        files=[{"file_id": data.id, "path": "in.csv"}, RunFileRef(path="n.txt", content="hi")],
        skills=[skill],
    )
    created = await sdk.runs.create(input="x", model="test", skills=[skill.id])

    assert run.status == RunStatus.COMPLETED
    assert (await sdk.runs.wait(created.id, timeout_s=10)).status == RunStatus.COMPLETED
    with pytest.raises(NotFoundError) as missing:
        await sdk.runs.create(input="x", model="test", files=[{"file_id": "file_x", "path": "a"}])
    assert missing.value.field == "/files/0/file_id"
    with pytest.raises(InvalidRequestError) as escaping:
        await sdk.runs.create(input="x", model="test", files=[{"path": "../a", "content": "x"}])
    assert escaping.value.field == "/files/0/path"


async def test_outputs_are_listed_downloaded_and_archived(sdk, server):
    run = await sdk.runs.run(input="done", model="test")
    ctx = server.app.state.ctx
    await ctx.database.write(file_store.save_outputs, run.id, OUTPUTS, ctx.clock())

    listed = await sdk.runs.outputs.list(run.id)
    one = await sdk.runs.outputs.download(run.id, "out/data.bin")
    archive = await sdk.runs.outputs.archive(run.id)

    assert all(isinstance(o, RunOutput) for o in listed)
    assert [o.path for o in listed] == ["out/data.bin", "report.md"]
    assert one == BLOB
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
        assert {m.name: bundle.extractfile(m).read() for m in bundle.getmembers()} == dict(OUTPUTS)
    with pytest.raises(NotFoundError) as missing:
        await sdk.runs.outputs.download(run.id, "nope.txt")
    assert missing.value.field == "path"


async def test_an_active_run_has_no_outputs_yet_and_no_archive(sdk):
    run = await sdk.runs.create(input="hi", agent_spec={"model": "test", "tools": [WEATHER]})
    try:
        assert await sdk.runs.outputs.list(run.id) == []
        with pytest.raises(ConflictError) as active:
            await sdk.runs.outputs.archive(run.id)
        assert active.value.code == "run_active"
    finally:
        await sdk.runs.cancel(run.id)
