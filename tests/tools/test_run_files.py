"""Files in and out of real runs, on both storage backends.

Inputs are placed in the workspace, skills installed and announced, and the files a run creates
or changes are kept as its outputs.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from typing import Any

from tests.conftest import api_client, running_app
from tests.helpers import events, submit, wait

SKILL_MD = """---
name: csv-tools
description: Summarise CSV files with the bundled script.
---
Run `python3 .skills/csv-tools/count.py FILE` to count the rows of a CSV file.
"""


def call(tool: str, /, **arguments: Any) -> str:
    return f"[[call {tool} {json.dumps(arguments)}]]"


def skill_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("csv-tools/SKILL.md", SKILL_MD)
        archive.writestr(
            "csv-tools/count.py",
            "import sys\nprint(sum(1 for _ in open(sys.argv[1])) - 1, 'rows')\n",
        )
    return buffer.getvalue()


async def upload(client: Any, name: str, content: bytes) -> str:
    response = await client.post("/v1/files", files={"file": (name, content)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_inputs_are_placed_and_created_or_changed_files_become_outputs(client):
    data_id = await upload(client, "data.csv", b"name,n\na,1\nb,2\n")
    run = await submit(
        client,
        " ".join(
            [
                call("read", path="input/data.csv"),
                call("bash", command="wc -l < input/data.csv > report.txt"),
                call("write", path="out/summary.md", content="# two rows\n"),
                call("edit", path="notes.txt", old_string="draft", new_string="final"),
            ]
        ),
        files=[
            {"file_id": data_id, "path": "input/data.csv"},
            {"path": "notes.txt", "content": "draft notes"},
        ],
    )
    ended = await wait(client, run["id"], timeout_s=60)
    listed = (await client.get(f"/v1/runs/{run['id']}/outputs")).json()["data"]
    report = await client.get(f"/v1/runs/{run['id']}/outputs/report.txt")
    archive = await client.get(f"/v1/runs/{run['id']}/outputs", params={"archive": "tar.gz"})

    assert ended["status"] == "completed", ended
    read = next(e for e in await events(client, run["id"]) if e["type"] == "tool.completed")
    assert read["output"] == "1\tname,n\n2\ta,1\n3\tb,2"
    # The unchanged input is not an output; the edited one, the new files are.
    assert sorted(o["path"] for o in listed) == ["notes.txt", "out/summary.md", "report.txt"]
    assert report.content == b"3\n"
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert members["notes.txt"] == b"final notes"
    assert members["out/summary.md"] == b"# two rows\n"


async def test_a_skill_is_installed_in_the_workspace_and_announced_to_the_model(client):
    skill_id = await upload(client, "csv-tools.zip", skill_zip())
    data_id = await upload(client, "data.csv", b"h\n1\n2\n3\n")
    run = await submit(
        client,
        "[[show_instructions]] "
        + call("bash", command="python3 .skills/csv-tools/count.py data.csv"),
        agent_spec={"model": "test", "instructions": "Be brief."},
        files=[{"file_id": data_id, "path": "data.csv"}],
        skills=[{"file_id": skill_id}],
    )
    ended = await wait(client, run["id"], timeout_s=60)
    completed = [e for e in await events(client, run["id"]) if e["type"] == "tool.completed"]

    assert ended["status"] == "completed", ended
    assert completed[0]["output"] == "3 rows\n[exit code 0]"
    assert ended["output"].startswith("Be brief.")
    assert "csv-tools" in ended["output"]
    assert "Summarise CSV files with the bundled script." in ended["output"]
    assert ".skills/csv-tools/SKILL.md" in ended["output"]
    # Installed skills are not outputs of the run.
    assert (await client.get(f"/v1/runs/{run['id']}/outputs")).json()["data"] == []


async def test_files_are_refused_for_a_sessions_runs_and_unknown_files_at_submit(client):
    session = (await client.post("/v1/sessions", json={"agent_spec": {"model": "test"}})).json()
    in_session = await client.post(
        "/v1/runs",
        json={"session": session["id"], "input": "hi", "files": [{"path": "a", "content": "x"}]},
    )
    unknown = await client.post(
        "/v1/runs",
        json={
            "agent_spec": {"model": "test"},
            "input": "hi",
            "files": [{"file_id": "file_01JD0000000000000000000000", "path": "a.csv"}],
        },
    )

    assert in_session.status_code == 400
    assert in_session.json()["field"] == "/files"
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "/files/0/file_id"


async def test_an_input_deleted_before_the_run_starts_fails_it_with_inputs_unavailable(
    make_settings,
):
    api_settings = make_settings(embedded_worker=False)
    async with running_app(api_settings) as api, api_client(api) as client:
        data_id = await upload(client, "gone.csv", b"x")
        run = await submit(client, "hi", files=[{"file_id": data_id, "path": "gone.csv"}])
        await client.delete(f"/v1/files/{data_id}")
        async with running_app(make_settings()):
            ended = await wait(client, run["id"], timeout_s=30)

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "inputs_unavailable"
    assert data_id in ended["error"]["message"]


async def test_an_agents_skills_and_the_workspaces_agents_md_reach_the_model(client):
    skill_id = await upload(client, "csv-tools.zip", skill_zip())
    agent = await client.post(
        "/v1/agents",
        json={"name": "analyst", "model": "test", "skills": [{"file_id": skill_id}]},
    )
    missing = await client.post(
        "/v1/agents",
        json={
            "name": "broken",
            "model": "test",
            "skills": [{"file_id": "file_01JD0000000000000000000000"}],
        },
    )
    run = await submit(
        client,
        "[[show_instructions]]",
        agent="analyst",
        files=[{"path": "AGENTS.md", "content": "Answer in French."}],
    )
    ended = await wait(client, run["id"], timeout_s=60)

    assert agent.status_code == 201, agent.text
    assert missing.status_code == 404
    assert missing.json()["field"] == "/skills/0/file_id"
    assert "csv-tools" in ended["output"]
    assert "Instructions from AGENTS.md in the workspace:\nAnswer in French." in ended["output"]
