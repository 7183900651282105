"""The runs list and a run's page, as a person sees them in a browser."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import expect

from tests.conftest import ADMIN_KEY
from tests.helpers import submit, wait

TEXT = "The quick brown fox jumps over the lazy dog while the console draws every word."


async def test_a_wrong_key_is_refused_and_the_right_one_is_kept_for_the_tab_only(open_console):
    page = await open_console("/runs", key=None)

    await page.get_by_label("API key").fill("crl_not_a_key_the_server_knows")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("does not know this key")

    await page.get_by_label("API key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    await expect(page.locator("#who")).to_contain_text("default")
    assert ADMIN_KEY not in page.url
    assert await page.evaluate("localStorage.getItem('corral.key')") is None
    assert await page.evaluate("sessionStorage.getItem('corral.key')") == ADMIN_KEY

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('corral.key')") is None


async def test_the_timeline_fills_in_while_the_run_streams(open_console, server):
    async with server.client() as api:
        run = await submit(
            api, f"[[think weighing the words]][[deltas 30]][[stream_delay 100ms]][[reply {TEXT}]]"
        )
        page = await open_console(f"/runs/{run['id']}")
        message = page.locator("li.message")
        # Part of the text is on the page while the rest is still being written.
        await expect(message).to_contain_text("quick brown")
        partial = await message.inner_text()
        assert 0 < len(partial) < len(TEXT)
        assert (await api.get(f"/v1/runs/{run['id']}")).json()["status"] == "running"

        await expect(message).to_have_text(TEXT)
        await expect(page.locator("li.end")).to_contain_text("completed")
        await expect(page.locator("h1 .badge")).to_have_text("completed")
        thinking = page.locator("li.thinking details")
        assert await thinking.get_attribute("open") is None  # collapsed until asked
        await thinking.locator("summary").click()
        await expect(thinking).to_contain_text("weighing the words")


async def test_a_client_tool_call_shows_as_a_card_until_the_caller_answers(open_console, server):
    tool = {
        "type": "client",
        "name": "lookup_order",
        "description": "Look an order up",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    }
    async with server.client() as api:
        run = await submit(api, '[[call lookup_order {"order": "A-17"}]]', tools=[tool])
        page = await open_console(f"/runs/{run['id']}")
        card = page.locator("li.card.client")
        await expect(card).to_contain_text("lookup_order")
        await expect(card).to_contain_text("waiting for the caller")
        await expect(card.locator(".arguments pre")).to_contain_text('"A-17"')

        [call] = (await api.get(f"/v1/runs/{run['id']}")).json()["pending_tool_calls"]
        answered = await api.post(
            f"/v1/runs/{run['id']}/tool-results",
            json={"call_id": call["call_id"], "output": "shipped"},
        )
        assert answered.status_code == 200
        await expect(card.locator(".output pre")).to_have_text("shipped")
        await expect(card).to_have_attribute("data-state", "ok")
        await expect(page.locator("li.end")).to_contain_text("completed")


async def test_an_asked_tool_call_is_approved_from_the_timeline(open_console, server):
    spec = {"model": "test", "builtin_tools": ["wait"], "permissions": {"tools": {"wait": "ask"}}}
    async with server.client() as api:
        run = await submit(api, '[[call wait {"seconds": 0.01}]]', agent_spec=spec)
        page = await open_console(f"/runs/{run['id']}")
        card = page.locator("li.card.approval")
        await expect(card).to_contain_text("waiting for approval")
        await card.get_by_role("button", name="Approve").click()

        await expect(card).to_contain_text("Approved")
        await expect(page.locator("li.end")).to_contain_text("completed")
        ended = await wait(api, run["id"])
        assert ended["status"] == "completed"
        [approval] = (await api.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]
        assert approval["status"] == "allowed"


async def test_a_denial_with_a_reason_reaches_the_model(open_console, server):
    spec = {"model": "test", "builtin_tools": ["wait"], "permissions": {"tools": {"wait": "ask"}}}
    async with server.client() as api:
        run = await submit(api, '[[call wait {"seconds": 0.01}]]', agent_spec=spec)
        page = await open_console(f"/runs/{run['id']}")
        card = page.locator("li.card.approval")
        await card.get_by_placeholder("Why").fill("not on a Friday")
        await card.get_by_role("button", name="Deny").click()

        await expect(card).to_contain_text("Denied: not on a Friday")
        [approval] = (await api.get(f"/v1/runs/{run['id']}/approvals")).json()["data"]
        assert (approval["status"], approval["message"]) == ("denied", "not on a Friday")


async def test_a_run_is_cancelled_from_its_page(open_console, server):
    async with server.client() as api:
        run = await submit(api, "[[delay 30s]]")
        page = await open_console(f"/runs/{run['id']}")
        await page.get_by_role("button", name="Cancel run").click()

        await expect(page.locator("h1 .badge")).to_have_text("cancelled")
        await expect(page.locator("li.end")).to_contain_text("cancelled")
        await expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
        assert (await wait(api, run["id"]))["status"] == "cancelled"


async def test_the_list_filters_pages_and_shows_new_runs_without_a_reload(open_console, server):
    async with server.client() as api:
        for index in range(55):
            await submit(api, "hi", metadata={"team": "blue" if index % 5 else "red"})
        page = await open_console("/runs")
        rows = page.locator("table.runs tbody tr")
        await expect(rows).to_have_count(50)
        await page.get_by_role("link", name="Older →").click()
        await expect(rows).to_have_count(5)
        await page.get_by_role("link", name="← Newest").click()
        await expect(rows).to_have_count(50)

        await page.get_by_label("Metadata").fill("team:red")
        await page.get_by_role("button", name="Filter").click()
        await expect(rows).to_have_count(11)
        assert "metadata=team%3Ared" in page.url
        await page.reload()  # the filter is in the address: a reload or a shared link keeps it
        await expect(rows).to_have_count(11)

        new = await submit(api, "hi", metadata={"team": "red"})
        await expect(rows.first).to_have_attribute("data-id", new["id"])
        await expect(rows).to_have_count(12)

        await page.get_by_label("Status").select_option("failed")
        await expect(page.get_by_text("No runs match.")).to_be_visible()

        # Times are the reader's own (a `datetime-local` box); tomorrow bounds every run.
        tomorrow = await page.evaluate(
            "new Date(Date.now() + 86400000 - new Date().getTimezoneOffset() * 60000)"
            ".toISOString().slice(0, 16)"
        )
        await page.goto(f"/runs?since={tomorrow}")
        await expect(page.get_by_text("No runs match.")).to_be_visible()
        await page.goto(f"/runs?until={tomorrow}&metadata=team:red")
        await expect(rows).to_have_count(12)
        await expect(page.get_by_label("To")).to_have_value(tomorrow)


async def test_keyboard_moves_through_the_list_and_opens_a_run(open_console, server):
    async with server.client() as api:
        runs = [await submit(api, f"run {index}") for index in range(3)]
        page = await open_console("/runs")
        await expect(page.locator("table.runs tbody tr")).to_have_count(3)
        await page.keyboard.press("j")
        await page.keyboard.press("j")
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(f"{server.base_url}/runs/{runs[1]['id']}")
        await page.go_back()
        await page.keyboard.press("g")
        await page.keyboard.press("r")
        await expect(page.get_by_role("heading", name="Runs")).to_be_visible()


async def test_a_long_run_of_ten_thousand_deltas_renders_whole(open_console, server):
    async with server.client() as api:
        run = await submit(api, f"[[deltas 10000]][[reply {'word ' * 2500}]]")
        await wait(api, run["id"], timeout_s=60)
        page = await open_console(f"/runs/{run['id']}")
        await expect(page.locator("li.end")).to_contain_text("completed", timeout=30_000)
        text = await page.locator("li.message").inner_text()
        assert text.split() == ["word"] * 2500
        # The page still answers at once.
        started = await page.evaluate("performance.now()")
        await page.keyboard.press("t")
        assert await page.evaluate("performance.now()") - started < 1000


async def test_an_agents_text_is_shown_as_text_never_as_markup(open_console, server):
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    async with server.client() as api:
        run = await submit(api, f"[[reply {hostile}]]", metadata={"x": hostile[:200]})
        await wait(api, run["id"])
        page = await open_console(f"/runs/{run['id']}")
        await expect(page.locator("li.message")).to_have_text(hostile)
        await page.goto("/runs")
        await expect(page.locator("table.runs tbody tr")).to_have_count(1)
        assert await page.evaluate("window.pwned") is None
        assert await page.locator("#main img").count() == 0


async def test_pages_are_served_at_their_addresses_with_a_strict_policy(server):
    async with server.client(key=None) as anonymous:
        for path in ("/", "/runs", "/runs/run_whatever"):
            page = await anonymous.get(path)
            assert page.status_code == 200 and "<title>Corral</title>" in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"]
        script = await anonymous.get("/assets/app.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers["x-content-type-options"] == "nosniff"
        again = await anonymous.get(
            "/assets/app.js", headers={"if-none-match": script.headers["etag"]}
        )
        assert again.status_code == 304
        assert (await anonymous.get("/assets/../settings.py")).status_code == 404
        missing = await anonymous.get("/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert json.loads((await anonymous.get("/v1/runs")).text)["error"] == "unauthorized"


async def test_a_stream_cut_off_mid_run_resumes_without_losing_or_repeating_text(
    open_console, server, proxy
):
    async with server.client() as api:
        run = await submit(api, f"[[deltas 40]][[stream_delay 100ms]][[reply {TEXT}]]")
        page = await open_console(f"/runs/{run['id']}", base_url=proxy.base_url)
        message = page.locator("li.message")
        await expect(message).to_contain_text("quick")
        proxy.cut()
        await expect(page.locator(".connection")).to_have_text("reconnecting…")
        await expect(message).to_have_text(TEXT, timeout=15_000)
        await expect(page.locator("li.end")).to_contain_text("completed")
        assert await page.locator("li.end").count() == 1


async def test_a_subagent_is_a_card_with_its_own_timeline_nested_and_linked(open_console, server):
    async with server.client() as api:
        created = await api.post(
            "/v1/agents", json={"name": "helper", "model": "test", "instructions": "Helpful."}
        )
        assert created.status_code == 201
        spec = {"model": "test", "tools": [{"type": "agent", "agent": "helper"}]}
        run = await submit(api, '[[call helper {"task": "write a haiku"}]]', agent_spec=spec)
        ended = await wait(api, run["id"])
        [child] = (await api.get("/v1/runs", params={"parent_run": run["id"]})).json()["data"]
        page = await open_console(f"/runs/{run['id']}")
        card = page.locator("li.card.subagent")
        await expect(card).to_contain_text("helper")
        await expect(card.locator(".badge")).to_have_text("completed")
        await card.locator("details.child summary").click()
        nested = card.locator(".nested li.message")
        await expect(nested).to_have_text("write a haiku")
        await card.get_by_role("link", name=child["id"]).click()
        await expect(page).to_have_url(f"{server.base_url}/runs/{child['id']}")
        await expect(page.get_by_role("link", name=run["id"])).to_be_visible()  # its parent
        assert ended["status"] == "completed"


async def test_a_runs_output_files_download_with_the_key_in_a_header(open_console, server):
    files = [{"path": "notes.txt", "content": "draft"}]
    write = '[[call bash {"command": "mkdir -p out && echo done > out/report.txt"}]]'
    spec = {"model": "test", "builtin_tools": ["bash"]}
    async with server.client() as api:
        run = await submit(api, write, agent_spec=spec, files=files)
        ended = await wait(api, run["id"], timeout_s=30)
        assert ended["status"] == "completed", ended
        page = await open_console(f"/runs/{run['id']}")
        button = page.get_by_role("button", name="out/report.txt")
        async with page.expect_download() as started:
            await button.click()
        download = await started.value
        assert download.suggested_filename == "report.txt"
        assert Path(await download.path()).read_text() == "done\n"


async def test_an_id_in_an_address_can_never_add_a_segment_to_it(open_console):
    page = await open_console("/runs")
    await expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    built = await page.evaluate(
        """import("/assets/dom.js").then(
            (dom) => dom.path`/v1/runs/${"run_x/../../v1/keys?scope=admin"}/approvals/${"c#1"}`)"""
    )
    assert built == "/v1/runs/run_x%2F..%2F..%2Fv1%2Fkeys%3Fscope%3Dadmin/approvals/c%231"
