"""Skills through the SDK: files packed into Corral skill archives, versioned, given to agents.

An agent's skill is installed in the workspace of each of its session's turns, where its tools
read it.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from typing import Any

import anthropic
import pytest
from anthropic import AsyncAnthropic

from tests.managed_agents.test_turns import make_session, until_idle

pytestmark = pytest.mark.timeout(90)


def skill_md(name: str = "csv-tools", description: str = "Summarise CSV files.") -> bytes:
    return (
        f"---\nname: {name}\ndescription: {description}\n---\n"
        "Count the rows with `python3 scripts/count.py FILE`.\n"
    ).encode()


def skill_files(folder: str = "csv-tools", **manifest: str) -> list[tuple[str, bytes]]:
    """A skill's files as the SDK sends them: (path in the upload, content)."""
    return [
        (f"{folder}/SKILL.md", skill_md(**manifest)),
        (f"{folder}/scripts/count.py", b"#!/usr/bin/env python3\nprint('rows')\n"),
    ]


TOOLSET = [{"type": "agent_toolset_20260401"}]


async def test_a_skill_is_created_versioned_listed_downloaded_and_deleted(client):
    skill = await client.beta.skills.create(files=skill_files())
    labelled = await client.beta.skills.create(
        files=skill_files(folder="other", name="other-tool"), display_name="Other tool"
    )
    first = await client.beta.skills.versions.retrieve("latest", skill_id=skill.id)
    second = await client.beta.skills.versions.create(
        skill.id, files=skill_files(description="Summarise and count CSV files.")
    )
    after = await client.beta.skills.retrieve(skill.id)
    pinned = await client.beta.skills.versions.retrieve(first.id, skill_id=skill.id)
    page = await client.beta.skills.versions.list(skill.id, limit=1)
    versions = [v.id async for v in client.beta.skills.versions.list(skill.id, limit=1)]
    skills = [s.id async for s in client.beta.skills.list(limit=1)]
    anthropic_made = await client.beta.skills.list(source="anthropic")
    download = await client.beta.skills.versions.download(first.id, skill_id=skill.id)
    archive = zipfile.ZipFile(io.BytesIO(await download.read()))

    assert skill.type == "skill" and skill.id.startswith("skill_")
    assert skill.display_name == "csv-tools" and skill.source.type == "custom"
    assert labelled.display_name == "Other tool"
    assert first.id == skill.latest_version_id and first.skill_id == skill.id
    assert (first.name, first.description) == ("csv-tools", "Summarise CSV files.")
    assert second.description == "Summarise and count CSV files."
    assert after.latest_version_id == second.id and after.updated_at >= skill.updated_at
    assert pinned == first
    assert page.data == [second] and page.next_page
    assert versions == [second.id, first.id]
    assert skills == [labelled.id, skill.id]
    assert anthropic_made.data == []
    assert download.headers["content-type"] == "application/zip"
    assert sorted(archive.namelist()) == ["csv-tools/SKILL.md", "csv-tools/scripts/count.py"]
    assert archive.read("csv-tools/SKILL.md") == skill_md()
    assert archive.getinfo("csv-tools/scripts/count.py").external_attr >> 16 & 0o111

    with pytest.raises(anthropic.BadRequestError) as renamed:
        await client.beta.skills.versions.create(skill.id, files=skill_files(name="renamed"))
    deleted = await client.beta.skills.versions.delete(second.id, skill_id=skill.id)
    back = await client.beta.skills.retrieve(skill.id)
    with pytest.raises(anthropic.ConflictError) as last:
        await client.beta.skills.versions.delete(first.id, skill_id=skill.id)
    gone = await client.beta.skills.delete(skill.id)
    with pytest.raises(anthropic.NotFoundError):
        await client.beta.skills.retrieve(skill.id)
    with pytest.raises(anthropic.NotFoundError):
        await client.beta.skills.versions.retrieve(first.id, skill_id=skill.id)

    assert renamed.value.body["error"]["field"] == "/files"
    assert "'csv-tools'" in renamed.value.message
    assert (deleted.type, deleted.id) == ("skill_version_deleted", second.id)
    assert back.latest_version_id == first.id
    assert last.value.body["error"]["field"] == "version"
    assert (gone.type, gone.id) == ("skill_deleted", skill.id)
    assert [s.id async for s in client.beta.skills.list()] == [labelled.id]


@pytest.mark.parametrize(
    ("files", "field", "says"),
    [
        pytest.param([("tool/README.md", b"# no skill")], "/files", "SKILL.md", id="no-skill-md"),
        pytest.param(
            [("tool/SKILL.md", skill_md()), ("tool/../escape.md", b"x")],
            "/files/1",
            "'..'",
            id="dot-dot",
        ),
        pytest.param([("/tool/SKILL.md", skill_md())], "/files/0", "absolute", id="absolute"),
        pytest.param(
            [("one/SKILL.md", skill_md()), ("two/SKILL.md", skill_md())],
            "/files/1",
            "one top-level folder",
            id="two-folders",
        ),
        pytest.param([("SKILL.md", skill_md())], "/files/0", "skill's folder", id="no-folder"),
        pytest.param(
            [("tool/SKILL.md", b"no front matter")], "/files", "front matter", id="no-manifest"
        ),
    ],
)
async def test_an_upload_that_is_no_installable_skill_is_refused_naming_the_field(
    client, files, field, says
):
    with pytest.raises(anthropic.BadRequestError) as refused:
        await client.beta.skills.create(files=files)

    assert refused.value.body["error"]["field"] == field
    assert says in refused.value.message
    assert (await client.beta.skills.list()).data == []


async def test_the_sync_client_creates_and_lists_skills(clients):
    sync, _ = clients

    def program() -> tuple[Any, list[str]]:
        made = sync.beta.skills.create(files=skill_files())
        return made, [s.id for s in sync.beta.skills.list()]

    made, listed = await asyncio.to_thread(program)

    assert listed == [made.id]


async def test_an_agent_s_skill_is_installed_in_its_session_s_turns(client: AsyncAnthropic):
    skill = await client.beta.skills.create(files=skill_files())
    first = skill.latest_version_id
    second = await client.beta.skills.versions.create(
        skill.id, files=skill_files(description="Count CSV rows.")
    )
    session_id, agent_id = await make_session(
        client, tools=TOOLSET, skills=[{"type": "custom", "skill_id": skill.id}]
    )
    agent = await client.beta.agents.retrieve(agent_id)

    stream = await client.beta.sessions.events.stream(session_id)
    read = json.dumps({"path": ".skills/csv-tools/SKILL.md"})
    await client.beta.sessions.events.send(
        session_id,
        events=[
            {"type": "user.message", "content": [{"type": "text", "text": f"[[call read {read}]]"}]}
        ],
    )
    seen = await until_idle(stream)
    session = await client.beta.sessions.retrieve(session_id)
    pinned = await client.beta.agents.update(
        agent_id,
        version=agent.version,
        skills=[{"type": "custom", "skill_id": skill.id, "version": first}],
    )
    cleared = await client.beta.agents.update(agent_id, version=pinned.version, skills=[])

    shown = [{"type": "custom", "skill_id": skill.id, "version": second.id}]
    assert [s.model_dump() for s in agent.skills] == shown
    assert [s.model_dump() for s in session.agent.skills] == shown
    result = next(e for e in seen if e.type == "agent.tool_result")
    assert "Count CSV rows." in result.content[0].text
    assert "python3 scripts/count.py" in result.content[0].text
    assert [s.version for s in pinned.skills] == [first]
    assert cleared.skills == []


async def test_skills_an_agent_cannot_be_given_are_refused_and_overrides_replace_them(client):
    skill = await client.beta.skills.create(files=skill_files())
    twin = await client.beta.skills.create(files=skill_files(folder="copy"))
    refusals = []
    for skills in (
        [{"type": "anthropic", "skill_id": "xlsx"}],
        [{"type": "custom", "skill_id": "skill_missing"}],
        [{"type": "custom", "skill_id": skill.id, "version": "skv_missing"}],
        [{"type": "custom", "skill_id": skill.id}, {"type": "custom", "skill_id": skill.id}],
        [{"type": "custom", "skill_id": skill.id}, {"type": "custom", "skill_id": twin.id}],
    ):
        with pytest.raises(anthropic.APIStatusError) as refused:
            await client.beta.agents.create(name="helper", model="test", skills=skills)
        refusals.append((refused.value.status_code, refused.value.body["error"]["field"]))

    env = await client.beta.environments.create(name="dev", config={"type": "cloud"})
    agent = await client.beta.agents.create(name="helper", model="test")
    with pytest.raises(anthropic.BadRequestError) as overridden:
        await client.beta.sessions.create(
            environment_id=env.id,
            agent={
                "type": "agent_with_overrides",
                "id": agent.id,
                "skills": [{"type": "anthropic", "skill_id": "pdf"}],
            },
        )
    given = await client.beta.sessions.create(
        environment_id=env.id,
        agent={
            "type": "agent_with_overrides",
            "id": agent.id,
            "skills": [{"type": "custom", "skill_id": skill.id, "version": "latest"}],
        },
    )

    assert overridden.value.body["error"]["field"] == "/agent/skills/0/type"
    assert [(s.skill_id, s.version) for s in given.agent.skills] == [
        (skill.id, skill.latest_version_id)
    ]
    assert refusals == [
        (400, "/skills/0/type"),
        (404, "/skills/0/skill_id"),
        (404, "/skills/0/version"),
        (400, "/skills/1/skill_id"),
        (400, "/skills/1/skill_id"),
    ]
    assert [a.id async for a in client.beta.agents.list()] == [agent.id]
