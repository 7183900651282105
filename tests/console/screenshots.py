"""Screenshots of the console's main pages, light and dark, for the README and the docs.

    python -m tests.console.screenshots        # writes docs/images/console-*.png

It starts a server on a scratch SQLite database, fills it with a little of everything through
the API (agents, runs with tools, thinking and an approval, a session, a routine), and drives
Debian's chromium over the pages.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright

from corral.settings import Settings
from tests.conftest import ADMIN_KEY, MCP_SERVERS, LiveServer

IMAGES = Path(__file__).parents[2] / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 820}
MODEL = "test-200000"


async def _run(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    created = await api.post("/v1/runs", json=body)
    created.raise_for_status()
    run: dict[str, Any] = created.json()
    ended = await api.get(f"/v1/runs/{run['id']}/wait", params={"timeout_s": 30})
    return dict(ended.json())


async def _seed(api: httpx.AsyncClient) -> dict[str, str]:
    """A workspace that has been used for a while; the ids of what the screenshots show."""
    for name, instructions in (
        ("triage", "Read new tickets and sort them by urgency."),
        ("researcher", "Find sources and summarize them with links."),
    ):
        created = await api.post(
            "/v1/agents",
            json={
                "name": name,
                "model": MODEL,
                "instructions": instructions,
                "builtin_tools": ["bash", "read", "grep"],
                "metadata": {"team": "support" if name == "triage" else "research"},
            },
        )
        created.raise_for_status()
    await api.patch(
        "/v1/agents/triage",
        json={"instructions": "Read new tickets, sort them by urgency, escalate outages at once."},
    )
    for index in range(8):
        await _run(
            api,
            agent="triage" if index % 2 else "researcher",
            input=f"[[tokens {1200 + index * 300} {240 + index * 40}]] ticket #{4810 + index}",
            metadata={"ticket": str(4810 + index), "team": "support"},
        )
    await _run(api, agent="triage", input="[[fail provider_error the model is overloaded]]")
    shown = await _run(
        api,
        agent="triage",
        input=(
            "[[think The ticket mentions a failing deploy; check the workspace first.]]"
            '[[call bash {"command": "ls -la && git --version"}]]'
            "[[reply Ticket #4821 is an outage: the deploy script is missing. Escalated.]]"
        ),
        metadata={"ticket": "4821", "team": "support"},
    )
    held = await api.post(
        "/v1/runs",
        json={
            "agent_spec": {
                "model": "test",
                "builtin_tools": ["wait"],
                "permissions": {"tools": {"wait": "ask"}},
            },
            "input": '[[call wait {"seconds": 1}]] pause the rollout',
            "metadata": {"ticket": "4822"},
        },
    )
    session = (await api.post("/v1/sessions", json={"agent": "researcher"})).json()
    for text in ("What changed in the billing API this week?", "Summarize it in one line."):
        sent = await api.post(f"/v1/sessions/{session['id']}/messages", json={"input": text})
        await api.get(f"/v1/runs/{sent.json()['id']}/wait", params={"timeout_s": 30})
    await api.post(
        "/v1/routines",
        json={
            "name": "nightly-triage",
            "agent": "triage",
            "input": "Sort the tickets opened since yesterday.",
            "triggers": [{"type": "schedule", "cron": "0 6 * * 1-5", "timezone": "Europe/Paris"}],
        },
    )
    return {"run": shown["id"], "held": held.json()["id"], "session": session["id"]}


async def _shoot(page: Page, path: str, name: str, theme: str, ready: str) -> None:
    await page.goto(path)
    await page.wait_for_selector(ready)
    await page.wait_for_timeout(300)  # the last frame of streamed text
    target = IMAGES / f"console-{name}-{theme}.png"
    await page.screenshot(path=str(target), full_page=False)
    print(target.relative_to(IMAGES.parents[1]))


async def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("screenshots need Debian's chromium: apt-get install chromium")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # The test model, priced like a mid-range model, so the usage charts have costs to show.
        catalog = Path(scratch) / "catalog.yaml"
        catalog.write_text(
            "models:\n  - {id: test-200000, provider: corral, context_window: 200000,\n"
            "     pricing: {input: 3.0, output: 15.0}}\n"
        )
        settings = Settings(
            model_catalog=catalog,
            data_dir=Path(scratch) / "data",
            database_url=f"sqlite:///{scratch}/corral.db",
            bootstrap_key=ADMIN_KEY,
            sandbox_mounts=[Path(sys.prefix), MCP_SERVERS],
        )
        async with LiveServer(settings) as server, server.client() as api:
            ids = await _seed(api)
            pages = [
                ("runs", "/runs", "section[data-loaded]"),
                ("run", f"/runs/{ids['run']}", "li.end"),
                ("approval", f"/runs/{ids['held']}", "li.card.approval"),
                ("session", f"/sessions/{ids['session']}", "ol.conversation li"),
                ("agent", "/agents/triage", "table.diff"),
                ("usage", "/usage?days=7", "svg.chart"),
            ]
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
                )
                for theme in ("light", "dark"):
                    context = await browser.new_context(
                        base_url=server.base_url, viewport=VIEWPORT, color_scheme=theme
                    )
                    await context.add_init_script(
                        f"sessionStorage.setItem('corral.key', {json.dumps(ADMIN_KEY)})"
                    )
                    page = await context.new_page()
                    for name, path, ready in pages:
                        await _shoot(page, path, name, theme, ready)
                    await context.close()
                await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
