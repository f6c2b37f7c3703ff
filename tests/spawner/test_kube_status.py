"""kube_status: reading a pod the way an admin reads `kubectl describe pod` (pure, explicit clock)."""

from __future__ import annotations

import datetime

import pytest

from jupyterhub_sessions.spawner import kube_status as ks

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)


def pod(waiting=None, terminated=None, last=None, phase="Pending", deleted=None, grace=30):
    cs = {"name": "notebook", "image": "reg/x:1", "restartCount": 1 if last else 0, "state": {}}
    if waiting:
        cs["state"]["waiting"] = waiting
    if terminated:
        cs["state"]["terminated"] = terminated
    if last:
        cs["lastState"] = {"terminated": last}
    meta = {"name": "jupyter-ann", "namespace": "ns"}
    if deleted:
        meta.update(deletionTimestamp=deleted, deletionGracePeriodSeconds=grace)
    return {
        "metadata": meta,
        "spec": {"nodeName": "cpu-2"},
        "status": {"phase": phase, "containerStatuses": [cs]},
    }


def failed_pull(answer):
    return [{"reason": "Failed", "type": "Warning", "message": f'Failed to pull image "reg/x:1": {answer}'}]


@pytest.mark.parametrize(
    "answer, gives_up",
    [
        ("rpc error: code = NotFound desc = ... reg/x: not found", True),
        ("failed to authorize: 401 Unauthorized", True),
        ("pull access denied, repository does not exist or may require authorization", True),
        ("429 Too Many Requests", False),
        ("dial tcp: i/o timeout", False),
    ],
)
def test_a_pull_is_given_up_only_when_retrying_cannot_help(answer, gives_up):
    p = pod(waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "reg/x:1"'})
    trouble = ks.start_trouble(p, failed_pull(answer))
    assert (trouble is not None) == gives_up
    if gives_up:
        assert "reg/x:1" in trouble and answer in trouble


def test_crashes_name_the_exit_code_and_what_helps():
    oom = pod(
        waiting={"reason": "CrashLoopBackOff"}, last={"exitCode": 137, "reason": "OOMKilled"}, phase="Running"
    )
    assert ks.crash_of(oom) == (137, "OOMKilled")
    assert "more memory" in ks.start_trouble(oom, [])
    ended = pod(terminated={"exitCode": 2, "reason": "Error"}, phase="Failed")
    assert "exit code 2" in ks.start_trouble(ended, [])
    assert ks.start_trouble(pod(waiting={"reason": "ContainerCreating"}), []) is None
    assert "could not be created" in ks.start_trouble(
        pod(waiting={"reason": "CreateContainerConfigError"}), []
    )


def test_giving_up_quotes_the_last_warning():
    events = [
        {"type": "Normal", "message": "Scheduled"},
        {"type": "Warning", "message": "0/3 nodes are available: 3 Insufficient cpu."},
    ]
    msg = ks.gave_up_message(295.4, events)
    assert msg.startswith("The session did not start within 295 seconds. The cluster said: 0/3 nodes")
    assert "Pick fewer resources" in msg
    assert ks.gave_up_message(10, []) == "The session did not start within 10 seconds."


def test_a_pod_stuck_stopping_is_explained_with_who_where_since_and_the_fix():
    p = pod(phase="Running", deleted="2026-11-30T11:50:30Z", grace=30)  # asked to stop at 11:50:00
    assert ks.overdue_seconds(p, NOW) == 570
    assert ks.terminating_since(p) == datetime.datetime(2026, 11, 30, 11, 50, tzinfo=datetime.timezone.utc)
    msg = ks.stuck_message("home", p, NOW)
    assert "Drive 'home'" in msg and "jupyter-ann" in msg and "cpu-2" in msg
    assert "since 2026-11-30 11:50 UTC (10 min)" in msg
    assert msg.endswith("kubectl delete pod jupyter-ann -n ns --grace-period=0 --force")
    assert ks.overdue_seconds(pod(), NOW) == 0
