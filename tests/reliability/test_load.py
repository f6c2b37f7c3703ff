"""Small versions of benchmarks/load_spawn.py and load_proxy.py on the shared hub:
concurrent spawns across users all start or are refused by the server limit, nothing
leaks; concurrent proxied requests all succeed. The benchmarks print the big figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.hub

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def bench(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_concurrent_spawns_start_or_are_refused_cleanly_and_leak_nothing(hub):
    load_spawn = bench("load_spawn")
    fig = load_spawn.run(hub, spawns=8, users=2, limit=3, deadline=300)
    load_spawn.report(fig)
    assert fig["errors"] == []
    # 2 users x 4 requests, 3 servers each: 2 refused by the per-user limit at most
    assert fig["accepted"] + fig["refused_by_limit"] + fig["refused_busy"] == 8
    assert fig["accepted"] >= 2 and fig["refused_by_limit"] <= 2
    assert fig["over_limit"] == {}
    assert fig["leaked_pids"] == []


def test_concurrent_requests_through_the_session_proxy_all_succeed(hub):
    load_proxy = bench("load_proxy")
    fig = load_proxy.run(hub, n=100, concurrency=50)
    load_proxy.report(fig)
    assert fig["errors"] == []
    assert len(fig["latencies"]) == 100
