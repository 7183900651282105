"""A running command's card grows its output as it streams, then shows the result."""

from __future__ import annotations

import json

from playwright.async_api import expect

from tests.helpers import submit

COMMAND = "for i in 1 2 3 4 5 6; do echo step-$i; sleep 0.4; done"


async def test_a_commands_card_shows_its_output_while_it_runs(open_console, server):
    async with server.client() as api:
        run = await submit(api, f"[[call bash {json.dumps({'command': COMMAND})}]]")
        page = await open_console(f"/runs/{run['id']}")
        card = page.locator("li.card.tool")
        live = card.locator(".output.live pre")
        # Its first lines are on the page while the command is still writing the rest.
        await expect(live).to_contain_text("step-2")
        partial = await live.inner_text()
        assert "step-6" not in partial
        assert await card.get_attribute("data-state") == "open"

        await expect(card).to_have_attribute("data-state", "ok")
        await expect(card.locator(".output.live")).to_have_count(0)
        await expect(card.locator(".output pre")).to_have_text(
            "".join(f"step-{i}\n" for i in range(1, 7)) + "[exit code 0]"
        )
