"""A watched run that no worker takes says how to start one, once."""

from __future__ import annotations

import asyncio
import signal

from tests.cli.conftest import CORRAL, clean_environ
from tests.conftest import ADMIN_KEY, LiveServer


async def test_a_run_no_worker_takes_says_once_how_to_start_one(make_settings):
    async with LiveServer(make_settings(embedded_worker=False)) as server:
        env = {**clean_environ(), "CORRAL_BASE_URL": server.base_url, "CORRAL_API_KEY": ADMIN_KEY}
        process = await asyncio.create_subprocess_exec(
            CORRAL,
            "run",
            "--json",
            "nobody takes this",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            created = await asyncio.wait_for(process.stderr.readline(), 60)
            hint = await asyncio.wait_for(process.stderr.readline(), 60)
            process.send_signal(signal.SIGINT)
            stdout, rest = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    run_line = created.decode().strip()
    assert run_line.startswith("run run_") and run_line.endswith(" queued")
    run_id = run_line.split()[1]
    assert hint.decode().strip() == (
        f"{run_id} is still queued after 5 s: is a worker running? Start one with "
        "`corral worker`, or use `corral serve`, which runs one"
    )
    assert "still queued" not in rest.decode()
    assert process.returncode == 130
    assert stdout == b""
