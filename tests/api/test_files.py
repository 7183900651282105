"""Uploads (`/v1/files`), files and skills named in a run's body, and a run's outputs."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from typing import Any

import pytest

from corral.services import auth
from corral.storage import files as file_store
from tests.conftest import api_client, running_app
from tests.helpers import assert_error, submit, wait

CSV = b"city,temp\nOslo,4\n"
EVERY_BYTE = bytes(range(256)) * 4
WEATHER = {
    "type": "client",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def upload(client, content: bytes, name: str = "data.csv", **form: str) -> dict[str, Any]:
    response = await client.post("/v1/files", files={"file": (name, content)}, data=form or None)
    assert response.status_code == 201, response.text
    return dict(response.json())


def skill_zip(name: str = "csv-tools", folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(
            f"{folder}SKILL.md", f"---\nname: {name}\ndescription: Reads CSV.\n---\nSteps.\n"
        )
        bundle.writestr(f"{folder}scripts/read.py", "print('hi')\n")
    return buffer.getvalue()


# -- uploads ---------------------------------------------------------------------------------


async def test_an_uploaded_file_is_described_and_served_back_byte_for_byte(client):
    file = await upload(client, CSV, "weather.csv")

    assert file["id"].startswith("file_")
    assert file["name"] == "weather.csv"
    assert file["media_type"] == "text/csv"
    assert file["size"] == len(CSV)
    assert file["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert (await client.get(f"/v1/files/{file['id']}")).json() == file
    content = await client.get(f"/v1/files/{file['id']}/content")
    assert content.status_code == 200
    assert content.content == CSV
    assert content.headers["content-type"].startswith("text/csv")
    assert content.headers["content-disposition"].startswith('attachment; filename="weather.csv"')


async def test_a_raw_body_named_by_the_query_is_an_upload_too(client):
    response = await client.post(
        "/v1/files",
        params={"name": "blob.bin"},
        content=EVERY_BYTE,
        headers={"content-type": "application/octet-stream"},
    )

    assert response.status_code == 201, response.text
    file = response.json()
    assert file["name"] == "blob.bin"
    assert file["media_type"] == "application/octet-stream"
    served = await client.get(f"/v1/files/{file['id']}/content")
    assert served.content == EVERY_BYTE


async def test_the_form_name_wins_over_the_file_name_and_a_stated_type_is_kept(client):
    response = await client.post(
        "/v1/files",
        files={"file": ("upload.tmp", b"{}", "application/json")},
        data={"name": "réponse 1.json"},
    )

    file = response.json()
    assert file["name"] == "réponse 1.json"
    assert file["media_type"] == "application/json"
    served = await client.get(f"/v1/files/{file['id']}/content")
    assert "filename*=UTF-8''r%C3%A9ponse%201.json" in served.headers["content-disposition"]


async def test_files_list_newest_first_in_pages_and_deleted_ones_are_gone(client):
    ids = [(await upload(client, b"x", f"f{i}.txt"))["id"] for i in range(3)]

    first = (await client.get("/v1/files", params={"limit": 2})).json()
    rest = (await client.get("/v1/files", params={"cursor": first["next_cursor"]})).json()
    deleted = await client.delete(f"/v1/files/{ids[1]}")

    assert [f["id"] for f in first["data"]] == [ids[2], ids[1]]
    assert [f["id"] for f in rest["data"]] == [ids[0]]
    assert rest["next_cursor"] is None
    assert deleted.status_code == 204
    assert_error(await client.get(f"/v1/files/{ids[1]}"), 404, "not_found")
    assert_error(await client.get(f"/v1/files/{ids[1]}/content"), 404, "not_found")
    assert_error(await client.delete(f"/v1/files/{ids[1]}"), 404, "not_found")
    remaining = (await client.get("/v1/files")).json()["data"]
    assert [f["id"] for f in remaining] == [ids[2], ids[0]]


async def test_another_workspace_cannot_see_or_delete_a_file(app, client):
    file = await upload(client, CSV)
    _, other_key = await auth.create_workspace(app.state.ctx, "other")

    async with api_client(app, other_key) as other:
        assert_error(await other.get(f"/v1/files/{file['id']}"), 404, "not_found")
        assert_error(await other.delete(f"/v1/files/{file['id']}"), 404, "not_found")
        assert (await other.get("/v1/files")).json()["data"] == []
    assert (await client.get(f"/v1/files/{file['id']}")).status_code == 200


async def test_uploading_needs_the_runs_write_scope_and_reading_runs_read(app):
    _, reader_key = await auth.create_workspace(app.state.ctx, "readers", scopes=["runs:read"])

    async with api_client(app, reader_key) as reader:
        refused = await reader.post("/v1/files", files={"file": ("a.txt", b"a")})
        assert_error(refused, 403, "insufficient_scope")
        assert refused.json()["required_scope"] == "runs:write"
        assert (await reader.get("/v1/files")).status_code == 200
    _, other_key = await auth.create_workspace(app.state.ctx, "others", scopes=["sessions:read"])
    async with api_client(app, other_key) as other:
        for path in ("/v1/files", "/v1/runs/run_x/outputs"):
            refused = await other.get(path)
            assert_error(refused, 403, "insufficient_scope")
            assert refused.json()["required_scope"] == "runs:read"


@pytest.mark.parametrize(
    ("request_kwargs", "field"),
    [
        pytest.param({"content": b"abc"}, "name", id="raw-without-a-name"),
        pytest.param({"files": {"file": ("", b"abc")}}, "name", id="form-file-without-a-name"),
        pytest.param(
            {"files": {"file": ("a.txt", b"abc")}, "data": {"name": "bad\nname"}},
            "name",
            id="name-with-a-newline",
        ),
        pytest.param(
            {"files": {"other": ("a.txt", b"abc")}}, "other", id="form-without-a-file-part"
        ),
        pytest.param(
            {
                "content": b'--xyz\r\nContent-Disposition: form-data; name="file"',
                "headers": {"content-type": "multipart/form-data; boundary=xyz"},
            },
            "file",
            id="form-cut-short",
        ),
        pytest.param(
            {"content": b"abc", "headers": {"content-type": "multipart/form-data"}},
            "file",
            id="form-without-a-boundary",
        ),
        pytest.param({"params": {"name": "x" * 256}, "content": b"abc"}, "name", id="name-long"),
    ],
)
async def test_a_bad_upload_is_refused_with_the_field_to_fix(client, request_kwargs, field):
    response = await client.post("/v1/files", **request_kwargs)

    assert_error(response, 400, "invalid_request", field)
    assert (await client.get("/v1/files")).json()["data"] == []


async def test_a_file_over_the_limit_is_refused_with_413_naming_the_file(make_settings):
    settings = make_settings(max_body_bytes=1024, max_file_bytes=2048)
    async with running_app(settings) as app, api_client(app) as client:
        just_right = await client.post("/v1/files", files={"file": ("ok.bin", b"x" * 2048)})
        form = await client.post("/v1/files", files={"file": ("big.bin", b"x" * 2049)})
        raw = await client.post("/v1/files", params={"name": "big.bin"}, content=b"x" * 2049)
        huge = await client.post("/v1/files", params={"name": "huge.bin"}, content=b"x" * 200_000)

        assert just_right.status_code == 201, just_right.text
        for response in (form, raw, huge):
            assert_error(response, 413, "payload_too_large", "file")
        assert len((await client.get("/v1/files")).json()["data"]) == 1


async def test_only_the_upload_route_takes_bodies_over_the_body_limit(make_settings):
    settings = make_settings(max_body_bytes=1024, max_file_bytes=2048)
    body = {"agent_spec": {"model": "test"}, "input": "x" * 1500}
    async with running_app(settings) as app, api_client(app) as client:
        refused = await client.post("/v1/runs", json=body)
        uploaded = await client.post("/v1/files", params={"name": "a.txt"}, content=b"x" * 1500)

    assert_error(refused, 413, "payload_too_large")
    assert "field" not in refused.json()
    assert uploaded.status_code == 201


# -- files and skills in a run's body --------------------------------------------------------


def run_body(**fields: Any) -> dict[str, Any]:
    return {"agent_spec": {"model": "test"}, "input": "hi", **fields}


async def test_a_run_takes_uploaded_and_inline_files_and_skills(client):
    data = await upload(client, CSV)
    skill = await upload(client, skill_zip(folder="csv-tools/"), "csv-tools.zip")

    response = await client.post(
        "/v1/runs",
        json=run_body(
            files=[
                {"file_id": data["id"], "path": "./data//weather.csv"},
                {"path": "notes.txt", "content": "remember"},
                {
                    "path": "bin/blob",
                    "content": base64.b64encode(b"\x00\x01").decode(),
                    "encoding": "base64",
                },
            ],
            skills=[{"file_id": skill["id"]}],
        ),
    )

    assert response.status_code == 202, response.text
    assert (await wait(client, response.json()["id"]))["status"] == "completed"


REF_REJECTIONS = [
    pytest.param({"files": [{"path": "../x", "content": "a"}]}, 400, "/files/0/path", id="dotdot"),
    pytest.param(
        {"files": [{"path": "a/../../x", "content": "a"}]}, 400, "/files/0/path", id="inner-dotdot"
    ),
    pytest.param({"files": [{"path": "/etc/x", "content": "a"}]}, 400, "/files/0/path", id="abs"),
    pytest.param({"files": [{"path": "./", "content": "a"}]}, 400, "/files/0/path", id="no-name"),
    pytest.param(
        {"files": [{"path": "a", "content": "a", "file_id": "file_x"}]},
        400,
        "/files/0/file_id",
        id="both-sources",
    ),
    pytest.param({"files": [{"path": "a"}]}, 400, "/files/0/file_id", id="no-source"),
    pytest.param(
        {"files": [{"path": "a", "content": "not base64!", "encoding": "base64"}]},
        400,
        "/files/0/content",
        id="bad-base64",
    ),
    pytest.param(
        {"files": [{"path": "a", "content": "x", "encoding": "latin-1"}]},
        400,
        "/files/0/encoding",
        id="unknown-encoding",
    ),
    pytest.param(
        {"files": [{"path": "a", "content": "x"}, {"path": "./a", "content": "y"}]},
        400,
        "/files/1/path",
        id="same-path-twice",
    ),
    pytest.param(
        {"files": [{"path": "a", "content": "x"}, {"path": "a/b", "content": "y"}]},
        400,
        "/files/1/path",
        id="file-used-as-folder",
    ),
    pytest.param(
        {"files": [{"path": f"f{i}", "content": ""} for i in range(257)]},
        400,
        "/files",
        id="too-many-files",
    ),
    pytest.param(
        {"files": [{"path": "a", "file_id": "file_missing"}]},
        404,
        "/files/0/file_id",
        id="unknown-file",
    ),
    pytest.param({"skills": [{"file_id": "file_missing"}]}, 404, "/skills/0/file_id", id="skill"),
    pytest.param({"skills": [{"path": "x"}]}, 400, "/skills/0/file_id", id="skill-without-id"),
]


@pytest.mark.parametrize(("fields", "status", "field"), REF_REJECTIONS)
async def test_bad_file_references_of_a_run_are_refused_with_the_field(
    client, fields, status, field
):
    response = await client.post("/v1/runs", json=run_body(**fields))

    assert_error(response, status, "invalid_request" if status == 400 else "not_found", field)
    assert (await client.get("/v1/runs")).json()["data"] == []


async def test_a_skill_that_cannot_be_installed_is_refused_when_the_run_is_created(client):
    not_an_archive = await upload(client, b"just text", "skill.zip")
    nameless = io.BytesIO()
    with zipfile.ZipFile(nameless, "w") as bundle:
        bundle.writestr("SKILL.md", "---\ndescription: no name\n---\n")
    without_name = await upload(client, nameless.getvalue(), "nameless.zip")
    first = await upload(client, skill_zip("twin"), "a.zip")
    second = await upload(client, skill_zip("twin"), "b.zip")

    for skills, field in [
        ([not_an_archive], "/skills/0/file_id"),
        ([first, without_name], "/skills/1/file_id"),
        ([first, second], "/skills/1/file_id"),
    ]:
        response = await client.post(
            "/v1/runs", json=run_body(skills=[{"file_id": s["id"]} for s in skills])
        )
        assert_error(response, 400, "invalid_request", field)
    message = response.json()["message"]
    assert "twin" in message


async def test_a_file_of_another_workspace_cannot_be_given_to_a_run(app, client):
    _, other_key = await auth.create_workspace(app.state.ctx, "other")
    async with api_client(app, other_key) as other:
        theirs = await upload(other, CSV)

    response = await client.post(
        "/v1/runs", json=run_body(files=[{"file_id": theirs["id"], "path": "a.csv"}])
    )

    assert_error(response, 404, "not_found", "/files/0/file_id")


# -- outputs ---------------------------------------------------------------------------------


OUTPUTS = [("report.md", b"# Report\n"), ("data/out.csv", CSV), ("bin/blob", EVERY_BYTE)]


async def ended_run_with_outputs(app, client) -> str:
    run = await submit(client, "done")
    await wait(client, run["id"])
    ctx = app.state.ctx
    await ctx.database.write(file_store.save_outputs, run["id"], OUTPUTS, ctx.clock())
    return str(run["id"])


async def test_the_outputs_of_an_ended_run_are_listed_by_path(app, client):
    run_id = await ended_run_with_outputs(app, client)

    listed = (await client.get(f"/v1/runs/{run_id}/outputs")).json()["data"]

    assert [(o["path"], o["size"]) for o in listed] == [
        ("bin/blob", len(EVERY_BYTE)),
        ("data/out.csv", len(CSV)),
        ("report.md", 9),
    ]
    assert listed[1]["sha256"] == hashlib.sha256(CSV).hexdigest()


async def test_one_output_downloads_as_its_bytes_and_a_missing_one_is_404_on_path(app, client):
    run_id = await ended_run_with_outputs(app, client)

    csv = await client.get(f"/v1/runs/{run_id}/outputs/data/out.csv")
    blob = await client.get(f"/v1/runs/{run_id}/outputs/bin/blob")
    missing = await client.get(f"/v1/runs/{run_id}/outputs/data/nope.csv")
    escape = await client.get(f"/v1/runs/{run_id}/outputs/data/%2E%2E/%2E%2E/etc/passwd")

    assert csv.content == CSV
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"].startswith('attachment; filename="out.csv"')
    assert blob.content == EVERY_BYTE
    assert_error(missing, 404, "not_found", "path")
    assert_error(escape, 404, "not_found", "path")


async def test_the_archive_holds_every_output(app, client):
    run_id = await ended_run_with_outputs(app, client)

    response = await client.get(f"/v1/runs/{run_id}/outputs", params={"archive": "tar.gz"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert f"{run_id}-outputs.tar.gz" in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    assert members == dict(OUTPUTS)


async def test_saving_outputs_again_replaces_them_and_a_run_without_any_has_an_empty_archive(
    app, client
):
    run_id = await ended_run_with_outputs(app, client)
    ctx = app.state.ctx
    await ctx.database.write(file_store.save_outputs, run_id, [("only.txt", b"1")], ctx.clock())
    bare = await submit(client, "bare")
    await wait(client, bare["id"])

    listed = (await client.get(f"/v1/runs/{run_id}/outputs")).json()["data"]
    empty = await client.get(f"/v1/runs/{bare['id']}/outputs", params={"archive": "tar.gz"})

    assert [o["path"] for o in listed] == ["only.txt"]
    assert (await client.get(f"/v1/runs/{bare['id']}/outputs")).json() == {"data": []}
    with tarfile.open(fileobj=io.BytesIO(empty.content), mode="r:gz") as archive:
        assert archive.getmembers() == []


async def test_a_run_that_has_not_ended_lists_no_outputs_and_refuses_downloads(client):
    # It calls a client tool nobody answers, so it stays active.
    run = await submit(client, "hi", agent_spec={"model": "test", "tools": [WEATHER]})

    listed = await client.get(f"/v1/runs/{run['id']}/outputs")
    archive = await client.get(f"/v1/runs/{run['id']}/outputs", params={"archive": "tar.gz"})
    one = await client.get(f"/v1/runs/{run['id']}/outputs/report.md")

    assert listed.json() == {"data": []}
    assert_error(archive, 409, "run_active")
    assert_error(one, 409, "run_active")
    await client.post(f"/v1/runs/{run['id']}/cancel")


async def test_outputs_of_an_unknown_or_foreign_run_are_404(app, client):
    run_id = await ended_run_with_outputs(app, client)
    _, other_key = await auth.create_workspace(app.state.ctx, "other")

    async with api_client(app, other_key) as other:
        for path in ("outputs", "outputs/report.md"):
            assert_error(await other.get(f"/v1/runs/{run_id}/{path}"), 404, "not_found")
        archive = await other.get(f"/v1/runs/{run_id}/outputs", params={"archive": "tar.gz"})
        assert_error(archive, 404, "not_found")
    assert_error(await client.get("/v1/runs/run_nope/outputs"), 404, "not_found")
    bad_format = await client.get(f"/v1/runs/{run_id}/outputs", params={"archive": "zip"})
    assert_error(bad_format, 400, "invalid_request", "archive")


async def test_deleting_a_run_deletes_its_outputs(app, client):
    run_id = await ended_run_with_outputs(app, client)

    assert (await client.delete(f"/v1/runs/{run_id}")).status_code == 204

    assert await app.state.ctx.database.read(file_store.list_outputs, run_id) == []


async def test_files_survive_a_restart_of_the_server(settings):
    async with running_app(settings) as app, api_client(app) as client:
        file = await upload(client, EVERY_BYTE, "blob.bin")
    async with running_app(settings) as app, api_client(app) as client:
        served = await client.get(f"/v1/files/{file['id']}/content")
    assert served.content == EVERY_BYTE
