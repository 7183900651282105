"""Without PostgreSQL or Redis here, their tests skip and the summary says how to run them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import free_port


def test_tests_of_a_missing_database_skip_with_one_line_saying_how_to_get_it():
    closed = free_port()
    env = {
        **os.environ,
        "CORRAL_TEST_PG_URL": f"postgresql://postgres@127.0.0.1:{closed}/test",
        "CORRAL_TEST_REDIS_URL": f"redis://127.0.0.1:{closed}/0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "tests/pubsub/test_brokers.py"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "error" not in lines[-1] and "failed" not in lines[-1]
    assert " skipped" in lines[-1]
    assert "Connect call failed" not in result.stdout
    for part, fix in [("PostgreSQL", "CORRAL_TEST_PG_URL"), ("Redis", "CORRAL_TEST_REDIS_URL")]:
        described = [line for line in lines if line.startswith(f"  {part}: ")]
        assert len(described) == 1, lines
        assert f"127.0.0.1:{closed}" in described[0]
        assert fix in described[0]
