"""Prometheus metrics of the API and the workers (`GET /metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "corral_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "corral_http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte for streams).",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RUNS_CREATED = Counter("corral_runs_created_total", "Runs submitted.")
RUNS_ENDED = Counter("corral_runs_ended_total", "Runs that reached a terminal status.", ["status"])
EVENTS_APPENDED = Counter("corral_events_appended_total", "Events written to run logs.")
ACTIVE_RUNS = Gauge("corral_worker_active_runs", "Runs being executed by this process.")
