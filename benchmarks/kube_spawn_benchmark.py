"""Kubernetes spawn path: SessionKubeSpawner vs stock KubeSpawner, same pod, same (fake) cluster.

    .venv/bin/python benchmarks/kube_spawn_benchmark.py [--runs 30]

Both spawners are driven the way JupyterHub drives them (tests/kube_fake/hub.py:
apply_user_options, pre-spawn hook, start) against the in-process Kubernetes
API fake over HTTP (tests/kube_fake), whose kubelet runs pods at once. What
differs is only what the spawner does:

- stock: KubeSpawner creating exactly the pod SessionKubeSpawner made for the
  same options (its manifest handed over through `modify_pod_hook`), with the
  drive's PVC already there;
- ours: SessionKubeSpawner with `{"session_type": "notebook"}` on an existing
  drive: options parsed and checked, drive looked up, drive-in-use check, pod.

Timed: spawn() until start() returned (pod running), then stop(); the runs
alternate between the two, medians are compared. Both wait for the pod through
KubeSpawner's own polling (exponential backoff with jitter), which spreads
single runs by a few hundred ms: use many runs. Also shown: our
apply_user_options alone (parse, drive lookup, drive-in-use check), the part
only ours does. Target: ours adds <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kube_fake.hub import FakeHub, spawn, spawner_config, stop  # noqa: E402
from tests.kube_fake.kubelet import Kubelet  # noqa: E402
from tests.kube_fake.server import FakeKubernetes  # noqa: E402

OPTIONS = {"session_type": "notebook"}


def _timed(spawner, method: str) -> list[float]:
    """Record how long each call of an async method of `spawner` takes."""
    times: list[float] = []
    original = getattr(spawner, method)

    async def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - t)

    setattr(spawner, method, timed)
    return times


async def measure(runs: int, fake: FakeKubernetes) -> dict[str, list[float]]:
    from kubespawner import KubeSpawner

    from jupyterhub_sessions.spawner.kube import SessionKubeSpawner

    config = spawner_config(fake, start_timeout=60)
    stock_config = copy.deepcopy(config)
    manifests: dict[str, object] = {}
    stock_config.KubeSpawner.modify_pod_hook = lambda spawner, pod: manifests[spawner.user.name]
    hub = FakeHub(config, SessionKubeSpawner)

    results: dict[str, list[float]] = {
        "stock KubeSpawner": [],
        "SessionKubeSpawner": [],
        "ours: apply_user_options alone": [],
    }
    for i in range(runs + 1):  # the first round warms up (imports, reflectors, connections)
        user = hub.user(f"bench{i}")
        hub.spawner_class, hub.config = SessionKubeSpawner, config
        warm = user.spawner(name="s")
        await spawn(warm, OPTIONS)  # makes the drive: both timed spawns find it there
        await stop(warm)
        user.spawners.pop("s")

        sp = user.spawner(name="s")
        applying = _timed(sp, "_run_apply_user_options")
        t = time.perf_counter()
        await spawn(sp, OPTIONS)
        ours = time.perf_counter() - t
        manifests[user.name] = await sp.get_pod_manifest()
        await stop(sp)
        user.spawners.pop("s")

        # the same server of the same user, now with stock KubeSpawner and the same pod
        hub.spawner_class, hub.config = KubeSpawner, stock_config
        stock = user.spawner(name="s")
        t = time.perf_counter()
        await spawn(stock, {})
        stock_s = time.perf_counter() - t
        pod = fake.get("pods", stock.pod_name)
        assert pod is not None and pod["status"]["phase"] == "Running"
        assert pod["spec"]["volumes"] == json.loads(
            json.dumps(stock.api.api_client.sanitize_for_serialization(manifests[user.name].spec.volumes))
        )
        await stop(stock)
        user.spawners.pop("s")
        if i:
            results["SessionKubeSpawner"].append(ours)
            results["stock KubeSpawner"].append(stock_s)
            results["ours: apply_user_options alone"].extend(applying)
    await KubeSpawner._stop_all_reflectors()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    import logging

    import kubernetes_asyncio.config.kube_config as kube_config

    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    logging.getLogger("traitlets").setLevel(logging.ERROR)

    fake = FakeKubernetes().start()
    fake.kubelet = Kubelet(fake, auto=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config"
        path.write_text(json.dumps(fake.kubeconfig()))
        os.environ["KUBECONFIG"] = str(path)
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)
        try:
            results = asyncio.run(measure(args.runs, fake))
        finally:
            fake.kubelet.close()
            fake.stop()

    print()
    print(f"{'spawn until running (ms)':<32} {'median':>8} {'p10':>8} {'p90':>8} {'runs':>5}")
    for name, xs in results.items():
        xs = sorted(x * 1000 for x in xs)
        p10, p90 = xs[len(xs) // 10], xs[(9 * len(xs)) // 10]
        print(f"{name:<32} {statistics.median(xs):8.1f} {p10:8.1f} {p90:8.1f} {len(xs):5d}")
    added = (
        statistics.median(results["SessionKubeSpawner"]) - statistics.median(results["stock KubeSpawner"])
    ) * 1000
    print(f"SessionKubeSpawner adds {added:+.1f} ms (median) over stock KubeSpawner with the same pod")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
