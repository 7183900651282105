"""The load half of the `console` scenario: Chromium, driven by Playwright, on the web console.

Each job runs in a load process and launches Debian's Chromium (never a downloaded browser), so
the figures are what a person's browser does: fetch the page and its ES modules, sign in with
the key kept in `sessionStorage`, call the API, draw. Every view is timed in a fresh browser
context (empty cache, no connection kept), on the job's clock from `page.goto` to the rows being
visible, and in the page from its navigation start (or the click) to the moment the page marks
itself loaded, which leaves Playwright's own round trips out. Streamed text is timed in the page
too: a MutationObserver notes when the run's message grows, on the wall clock the server also
stamps events with (one machine, one clock).
"""

from __future__ import annotations

import resource
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from benchmarks.loadgen import Recorder, RequestFailed, Target, open_session, submit_run
from benchmarks.measurement import ms

LOADED = 'section[data-loaded="true"]'
ROWS = "table.runs tbody tr"
PAGE_SIZE = 50
"""Rows the runs page asks for."""
TIMEOUT_MS = 60_000
VIEWS = ("first_load", "older_page", "status_filter", "metadata_filter")
"""The timed views of the runs page; each has a `_ms` (job's clock) and `_in_page_ms` series."""

WATCH = """
window.__bench = {loaded: [], clickAt: null, timelineAt: null, seen: []};
document.addEventListener("click", () => { window.__bench.clickAt = performance.now(); }, true);
new MutationObserver((records) => {
  for (const record of records)
    if (record.target.dataset?.loaded === "true")
      window.__bench.loaded.push([performance.now(), location.search]);
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-loaded"]});
const watchText = (list) => {
  let shown = 0;
  const grown = () => {
    const length = list.querySelector("li.message")?.textContent.length ?? 0;
    if (length <= shown) return;
    shown = length;
    window.__bench.seen.push([performance.timeOrigin + performance.now(), length]);
  };
  new MutationObserver(grown).observe(list, {subtree: true, childList: true, characterData: true});
};
const untilTimeline = new MutationObserver(() => {
  const list = document.querySelector("ol.timeline");
  if (!list) return;
  untilTimeline.disconnect();
  window.__bench.timelineAt = performance.timeOrigin + performance.now();
  watchText(list);
});
untilTimeline.observe(document, {subtree: true, childList: true});
"""
"""Installed before the console's own scripts: when the page marks itself loaded, when a link
was clicked, and each time the run's streamed message grows (wall-clock ms, its length)."""


@contextmanager
def _browser_errors(recorder: Recorder) -> Iterator[None]:
    """Count a browser step that failed (a timeout, a closed page) as an error of the job."""
    try:
        yield
    except PlaywrightError as failure:
        recorder.error(f"{type(failure).__name__}: {failure.message.splitlines()[0]}")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@asynccontextmanager
async def chromium(executable: str, recorder: Recorder) -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; closed when the job ends, even on an error.

    The CPU it and Playwright's driver used (children of this process, waited for once closed)
    is the job's too: the one-value series `browser_cpu_ms`.
    """
    started = _children_cpu_s()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        recorder.sample("browser_cpu_ms", ms(_children_cpu_s() - started))


@asynccontextmanager
async def fresh_page(browser: Browser, target: Target) -> AsyncIterator[Page]:
    """A page in a new context, signed in as the console keeps its key, with `WATCH` installed."""
    context = await browser.new_context(base_url=target.base_url)
    try:
        key = orjson.dumps(target.api_key).decode()
        await context.add_init_script(f"sessionStorage.setItem('corral.key', {key});\n{WATCH}")
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
    finally:
        await context.close()


async def _get(session: aiohttp.ClientSession, target: Target, path: str) -> Any:
    async with session.get(target.url(path)) as response:
        payload = await response.read()
        if response.status != 200:
            raise RequestFailed(f"GET {path} → {response.status}: {payload[:200]!r}")
    return orjson.loads(payload)


async def _rows(page: Page) -> int:
    return int(await page.locator(ROWS).count())


async def _first_loaded(page: Page, since: float, search: str) -> float:
    """The page's clock when it first marked itself loaded since `since`, at a `search` address.

    The runs page marks itself again at each refresh, hence the first one.
    """
    loaded = await page.evaluate("window.__bench.loaded")
    times = [at for at, where in loaded if at >= since and search in where]
    if not times:
        raise RequestFailed(f"the page at {page.url} never marked itself loaded")
    return float(min(times))


API_CALLS = """performance.getEntriesByType("resource")
  .filter((entry) => entry.name.includes("/v1/"))
  .map((entry) => [new URL(entry.name).pathname, entry.duration])"""
"""Each API call the page made so far, and how long it took (request start to last byte)."""


async def _cold_view(page: Page, path: str, recorder: Recorder, view: str, rows: int) -> None:
    """Open `path` in a fresh page; time it until its rows are visible; check their number.

    The API calls it made are timed too (`{view} api /v1/…`), to tell the server's share.
    """
    started = time.perf_counter()
    await page.goto(path, wait_until="commit")
    await page.wait_for_selector(LOADED)
    recorder.sample(f"{view}_ms", ms(time.perf_counter() - started))
    recorder.sample(f"{view}_in_page_ms", await _first_loaded(page, 0.0, ""))
    for api_path, duration_ms in await page.evaluate(API_CALLS):
        recorder.sample(f"{view} api {api_path}", duration_ms)
    if (shown := await _rows(page)) != rows:
        recorder.error(f"{path} showed {shown} rows, not {rows}")


async def _older_page(page: Page, recorder: Recorder, rows: int, newest_older: str) -> None:
    """Click `Older →` on a loaded first page; time it until page 2's rows are visible."""
    started = time.perf_counter()
    await page.click('a[rel="next"]')
    # The click swaps the page for a new one at once; the console's CSP forbids a JS predicate.
    await page.wait_for_url("**/runs?*cursor=*")
    await page.wait_for_selector(LOADED)
    recorder.sample("older_page_ms", ms(time.perf_counter() - started))
    clicked = await page.evaluate("window.__bench.clickAt")
    recorder.sample(
        "older_page_in_page_ms", await _first_loaded(page, clicked, "cursor=") - clicked
    )
    first = await page.locator(ROWS).first.get_attribute("data-id")
    if (shown := await _rows(page)) != rows or first != newest_older:
        recorder.error(f"page 2 showed {shown} rows from {first}, not {rows} from {newest_older}")


async def _round(
    browser: Browser, target: Target, recorder: Recorder, expected: dict[str, Any], metadata: str
) -> None:
    """Each view once: the first page, `Older →` from it, the failed runs, the tagged runs."""
    first, older = expected["first"]["data"], expected["older"]["data"]
    async with fresh_page(browser, target) as page:
        await _cold_view(page, "/runs", recorder, "first_load", len(first))
        await _older_page(page, recorder, len(older), older[0]["id"])
    for view, path in (
        ("status_filter", "/runs?status=failed"),
        ("metadata_filter", f"/runs?metadata={metadata}"),
    ):
        async with fresh_page(browser, target) as page:
            await _cold_view(page, path, recorder, view, len(expected[view]["data"]))


async def page_loads(
    target: Target, executable: str, rounds: int, warmup_rounds: int, metadata: str
) -> Recorder:
    """Time each view of the runs page cold, `rounds` times after `warmup_rounds` untimed ones.

    The rows each view must show are read from the API first. One record: the browser.
    """
    recorder = Recorder()
    views = {
        "first": "",
        "status_filter": "&status=failed",
        "metadata_filter": f"&metadata={metadata}",
    }
    async with open_session(target, connections=2) as session:
        with recorder.catching():
            expected = {
                view: await _get(session, target, f"/v1/runs?limit={PAGE_SIZE}{query}")
                for view, query in views.items()
            }
            cursor = expected["first"]["next_cursor"]
            expected["older"] = await _get(
                session, target, f"/v1/runs?limit={PAGE_SIZE}&cursor={cursor}"
            )
    if recorder.errors:
        return recorder
    async with chromium(executable, recorder) as browser:
        recorder.records.append({"browser": f"chromium {browser.version}"})
        for index in range(warmup_rounds + rounds):
            timed = recorder if index >= warmup_rounds else Recorder()
            with timed.catching(), _browser_errors(timed):
                await _round(browser, target, timed, expected, metadata)
            if timed is not recorder:
                recorder.errors += timed.errors
                recorder.error_samples += timed.error_samples
    return recorder


def streamed_prompt(deltas: int, delay_ms: int, hold_ms: int) -> tuple[str, str]:
    """The test model's prompt for a streamed answer, and that answer (ASCII, 240 words).

    `[[delay]]` holds the model back until the run's page is open and following the stream, so
    every delta is timed live and none is a replay.
    """
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while"]
    reply = " ".join(f"{words[index % len(words)]}{index}" for index in range(240))
    prompt = (
        f"[[delay {hold_ms}ms]][[deltas {deltas}]][[stream_delay {delay_ms}ms]][[reply {reply}]]"
    )
    return prompt, reply


def _utf16_length(text: str) -> int:
    """A string's length as JavaScript counts it."""
    return len(text.encode("utf-16-le")) // 2


def _epoch_ms(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000


def delta_lags(
    events: list[dict[str, Any]], seen: list[list[float]], live_from_ms: float | None
) -> tuple[list[float], int, list[str]]:
    """For each delta: from its commit (`created_at`) to the page showing its last character.

    `seen` is the page's (wall-clock ms, message length) each time the text grew. Deltas
    committed before the page was following (`live_from_ms`) are replays: counted, not timed.
    Returns the lags, the replays and what went wrong.
    """
    lags: list[float] = []
    replayed, length, index = 0, 0, 0
    for event in events:
        if event["type"] != "message.delta":
            continue
        length += _utf16_length(event["text"])
        while index < len(seen) and seen[index][1] < length:
            index += 1
        if index == len(seen):
            shown = int(seen[-1][1]) if seen else 0
            return lags, replayed, [f"the page showed {shown} of {length}+ characters"]
        committed = _epoch_ms(event["created_at"])
        if live_from_ms is None or committed < live_from_ms:
            replayed += 1
        else:
            lags.append(seen[index][0] - committed)
    return lags, replayed, []


async def _events(session: aiohttp.ClientSession, target: Target, run_id: str) -> list[Any]:
    events: list[Any] = []
    after = 0
    while True:
        page = await _get(session, target, f"/v1/runs/{run_id}/events?limit=1000&after={after}")
        events += page["data"]
        if not page["has_more"]:
            return events
        after = events[-1]["seq"]


OPEN_RUN = """(runId) => {
  history.pushState(null, "", `/runs/${runId}`);
  window.dispatchEvent(new Event("corral:navigate"));
}"""
"""Open a run's page in the console already loaded, as its `navigate` does on a click."""


async def streamed_runs(
    target: Target, executable: str, runs: int, deltas: int, delay_ms: int, hold_ms: int
) -> Recorder:
    """Open each run's page as it starts; time each delta from its commit to the page.

    The console is loaded first (on `/runs`), and the run's page opened in it as a click on the
    run would, so the page follows the stream long before the model's `hold_ms` is over.

    One record per run: its id, deltas, replays and problems.
    """
    recorder = Recorder()
    prompt, reply = streamed_prompt(deltas, delay_ms, hold_ms)
    body = orjson.dumps({"agent_spec": {"model": "test"}, "input": prompt})
    async with (
        open_session(target, connections=2) as session,
        chromium(executable, recorder) as browser,
    ):
        for _ in range(runs):
            with recorder.catching(), _browser_errors(recorder):
                async with fresh_page(browser, target) as page:
                    await page.goto("/runs", wait_until="commit")
                    await page.wait_for_selector(LOADED)
                    run_id = await submit_run(session, target, body)
                    await page.evaluate(OPEN_RUN, run_id)
                    await page.wait_for_selector("ol.timeline li.end", state="attached")
                    watched = await page.evaluate("window.__bench")
                events = await _events(session, target, run_id)
                lags, replayed, problems = delta_lags(
                    events, watched["seen"], watched["timelineAt"]
                )
                if "".join(e["text"] for e in events if e["type"] == "message.delta") != reply:
                    problems.append("its deltas do not make the answer")
                for lag in lags:
                    recorder.sample("delta_to_page_ms", lag)
                recorder.records.append(
                    {
                        "run": run_id,
                        "deltas": len(lags) + replayed,
                        "replayed": replayed,
                        "problems": [f"run {run_id}: {problem}" for problem in problems],
                    }
                )
    return recorder
