"""The console's other pages: sessions, agents, approvals, routines, webhooks, usage, keys..."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from playwright.async_api import expect

from tests.helpers import scoped_key, submit, wait


async def test_a_session_shows_its_conversation_and_takes_the_next_message(open_console, server):
    async with server.client() as api:
        session = (await api.post("/v1/sessions", json={"agent_spec": {"model": "test"}})).json()
        sent = await api.post(f"/v1/sessions/{session['id']}/messages", json={"input": "first"})
        await wait(api, sent.json()["id"])
        page = await open_console(f"/sessions/{session['id']}")
        talk = page.locator("ol.conversation")
        await expect(talk.locator("li.role-user")).to_have_text("userfirst")
        await expect(talk.locator("li.role-assistant")).to_have_count(1)

        reply = "the second answer, written word by word"
        streamed = f"[[deltas 20]][[stream_delay 50ms]][[reply {reply}]]"
        await page.get_by_label("Message").fill(streamed)
        await page.get_by_role("button", name="Send").click()
        # The new run streams into the page, then joins the conversation.
        await expect(page.locator(".live li.message")).to_contain_text("second answer")
        await expect(talk.locator("li.role-user")).to_have_count(2, timeout=15_000)
        await expect(page.locator("table.runs tbody tr")).to_have_count(2)
        runs = (await api.get("/v1/runs", params={"session": session["id"]})).json()["data"]
        assert [run["status"] for run in runs] == ["completed", "completed"]

        await page.get_by_role("button", name="End session").click()
        await expect(page.locator("h1 .badge")).to_have_text("ended")
        await expect(page.get_by_label("Message")).to_be_hidden()


async def test_an_agent_shows_its_manifest_compares_versions_and_runs(open_console, server):
    async with server.client() as api:
        body = {"name": "triage", "model": "test", "instructions": "Sort the tickets."}
        agent = (await api.post("/v1/agents", json=body)).json()
        changed = {"instructions": "Sort the tickets.\nEscalate outages.", "metadata": {"t": "1"}}
        assert (await api.patch(f"/v1/agents/{agent['id']}", json=changed)).status_code == 200
        page = await open_console("/agents")
        await page.get_by_role("link", name="triage").click()

        manifest = page.locator("pre.manifest")
        await expect(manifest).to_contain_text("Escalate outages.")
        # What `corral agents apply` would read: the agent as it stands, defaults left out.
        shown = yaml.safe_load(await manifest.inner_text())
        stored = (await api.get(f"/v1/agents/{agent['id']}")).json()
        assert shown["name"] == "triage"
        assert shown["instructions"] == stored["instructions"] == changed["instructions"]
        assert shown["metadata"] == {"t": "1"} and shown["limits"] == {}
        assert shown["environment"]["networking"] == stored["environment"]["networking"]
        changed_rows = page.locator("table.diff tr.added, table.diff tr.changed")
        await expect(changed_rows.first).to_be_visible()
        right = " ".join(await page.locator("table.diff td.right").all_inner_texts())
        left = " ".join(await page.locator("table.diff td.left").all_inner_texts())
        assert "Escalate outages." in right and "Escalate outages." not in left

        await page.get_by_label("Input").fill("hello from the console")
        await page.get_by_role("button", name="Run this agent").click()
        await expect(page.locator("li.end")).to_contain_text("completed")
        await expect(page.locator("li.message")).to_have_text("hello from the console")
        assert "/runs/run_" in page.url


async def test_the_approvals_inbox_lists_every_held_call_and_decides_it(open_console, server):
    spec = {"model": "test", "builtin_tools": ["wait"], "permissions": {"tools": {"wait": "ask"}}}
    async with server.client() as api:
        held = [
            await submit(api, '[[call wait {"seconds": 0.01}]]', agent_spec=spec) for _ in range(2)
        ]
        page = await open_console("/approvals")
        cards = page.locator("article.approval")
        await expect(cards).to_have_count(2)
        await cards.first.get_by_role("button", name="Approve").click()
        await expect(cards).to_have_count(1)
        statuses = {(await wait(api, run["id"], timeout_s=5))["status"] for run in held[1:]}
        finished = [(await api.get(f"/v1/runs/{run['id']}")).json()["status"] for run in held]
        assert sorted(finished) == ["completed", "waiting"], (finished, statuses)


async def test_routines_show_their_triggers_history_and_run_by_hand(open_console, server):
    async with server.client() as api:
        await api.post("/v1/agents", json={"name": "nightly", "model": "test"})
        body = {
            "name": "report",
            "agent": "nightly",
            "input": "report",
            "triggers": [{"type": "schedule", "cron": "0 3 * * *", "timezone": "Europe/Paris"}],
        }
        routine = (await api.post("/v1/routines", json=body)).json()
        page = await open_console("/routines")
        await page.get_by_role("link", name="report").click()
        await expect(page.locator("ul.triggers")).to_contain_text("0 3 * * * in Europe/Paris")
        await page.get_by_role("button", name="Run now").click()
        await expect(page.locator("table.fires tbody tr")).to_have_count(1)
        await page.get_by_role("button", name="Pause").click()
        await expect(page.locator("h1 .badge")).to_have_text("paused")
        assert (await api.get(f"/v1/routines/{routine['id']}")).json()["status"] == "paused"


async def test_usage_is_charted_by_day_agent_and_model(open_console, server):
    async with server.client() as api:
        await api.post("/v1/agents", json={"name": "counter", "model": "test"})
        for _ in range(3):
            run = await submit(api, "[[tokens 1000 500]] hi", agent="counter")
            await wait(api, run["id"])
        page = await open_console("/usage?days=7")
        await expect(page.locator("dl.facts")).to_contain_text("3")
        charts = page.locator("svg.chart")
        await expect(charts).to_have_count(5)
        await expect(page.locator('svg[aria-label="Cost by agent"]')).to_contain_text("counter")
        await expect(page.locator('svg[aria-label="Tokens by model"]')).to_contain_text("test")
        runs_by_day = page.locator('svg[aria-label="Runs by day"] rect.bar')
        assert await runs_by_day.count() == 7


async def test_keys_and_secrets_show_metadata_only_to_keys_that_may_read_them(
    open_console, server, settings
):
    async with server.client() as api:
        await api.post("/v1/secrets", json={"name": "GITHUB_TOKEN", "value": "ghp_not_shown_0"})
        page = await open_console("/keys")
        await expect(page.locator("table.secrets")).to_contain_text("GITHUB_TOKEN")
        await expect(page.locator("table.keys tbody tr")).to_have_count(1)
        assert "ghp_not_shown_0" not in await page.content()

    reader = await scoped_key(settings, ["runs:read"])
    limited = await open_console("/keys", key=reader)
    await expect(limited.get_by_text("lacks keys:read")).to_be_visible()
    await expect(limited.get_by_text("lacks secrets:read")).to_be_visible()


async def test_the_server_page_shows_readiness_and_the_sandbox_tier(open_console, server):
    async with server.client() as api:
        tier = (await api.get("/v1/whoami")).json()["sandbox"]["tier"]
    page = await open_console("/server")
    await expect(page.locator("[data-tier]")).to_have_text(tier)
    await expect(page.locator("dl.facts").first).to_contain_text("ready")


async def test_a_webhook_shows_its_deliveries_and_sends_one_again(open_console, server):
    async with server.client() as api:
        body = {"url": "https://receiver.invalid/hook", "event_types": ["run.completed"]}
        hook = (await api.post("/v1/webhooks", json=body)).json()
        run = await submit(api, "hi")
        await wait(api, run["id"])
        page = await open_console("/webhooks")
        await page.get_by_role("link", name=hook["id"]).click()
        rows = page.locator("table.deliveries tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows).to_contain_text(run["id"])
        await expect(rows).to_contain_text("pending")
        await rows.get_by_role("button", name="Send again").click()
        listed = f"/v1/webhooks/{hook['id']}/deliveries"
        for _ in range(100):
            [delivery] = (await api.get(listed)).json()["data"]
            if delivery["attempts"] >= 2:
                break
            await asyncio.sleep(0.05)
        assert delivery["attempts"] >= 2 and delivery["last_error"]


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_both_themes_and_a_phone_screen_keep_every_page_readable(open_console, server, theme):
    async with server.client() as api:
        run = await submit(api, "[[think a plan]] hello")
        await wait(api, run["id"])
    page = await open_console(
        f"/runs/{run['id']}", color_scheme=theme, viewport={"width": 390, "height": 844}
    )
    await expect(page.locator("li.end")).to_contain_text("completed")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(20, 23, 27)") == (theme == "dark")
    # Nothing is wider than the phone's screen.
    wide = await page.evaluate(
        """[...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('nav.sections'))
        .map((e) => e.tagName + '.' + e.className)"""
    )
    assert wide == []
    # The sections' bar scrolls sideways instead.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.keyboard.press("t")
    flipped = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert flipped != background
    await page.reload()
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == flipped
