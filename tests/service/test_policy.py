"""Expiry and renewal rules, with an explicit clock."""

from datetime import datetime, timedelta, timezone

import pytest

from jupyterhub_sessions.profiles import Lifetime
from jupyterhub_sessions.service import policy
from jupyterhub_sessions.service.policy import Record, RenewError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NO_LIMIT = Lifetime()
FOUR_DAYS = Lifetime(max_age=4 * 86400, renewal_period=4 * 86400)
CAPPED = Lifetime(max_age=86400, renewal_period=86400, max_renewals=2)


def verdict(now, *, timeout=3600, last=None, lifetime=NO_LIMIT, record=Record()):
    return policy.evaluate(
        started=T0, last_activity=last, timeout=timeout, lifetime=lifetime, record=record, now=now
    )


def test_idle_browser_session_expires_an_idle_timeout_after_last_activity():
    last = T0 + 2 * HOUR
    assert not verdict(last + HOUR - timedelta(seconds=1), last=last).expired
    v = verdict(last + HOUR, last=last)
    assert v.expired and v.reason == "idle" and v.mode == "browser"
    assert v.expires_at == last + HOUR


def test_session_without_activity_counts_idle_time_from_start():
    v = verdict(T0 + HOUR, last=None)
    assert v.expired and v.expires_at == T0 + HOUR


def test_ssh_session_has_an_absolute_timeout_from_start_despite_activity():
    last = T0 + 50 * timedelta(minutes=1)
    browser = verdict(T0 + HOUR, last=last)
    ssh = verdict(T0 + HOUR, last=last, record=policy.ssh_opened(Record(), "c1"))
    assert not browser.expired
    assert ssh.expired and ssh.reason == "absolute" and ssh.mode == "ssh"
    assert ssh.expires_at == T0 + HOUR


def test_never_timeout_never_expires_without_max_age():
    v = verdict(T0 + 1000 * DAY, timeout=-1, last=T0)
    assert not v.expired and v.expires_at is None and v.reason is None
    ssh = verdict(T0 + 1000 * DAY, timeout=-1, record=policy.ssh_opened(Record(), "c1"))
    assert not ssh.expired and ssh.expires_at is None
    assert (ssh.timeout_applies, ssh.timeout_basis) == (None, "never")


def test_max_age_ends_even_an_active_never_timeout_session():
    v = verdict(T0 + 4 * DAY, timeout=-1, last=T0 + 4 * DAY, lifetime=FOUR_DAYS)
    assert v.expired and v.reason == "max_age" and v.expires_at == T0 + 4 * DAY
    assert not verdict(T0 + 4 * DAY - timedelta(seconds=1), timeout=-1, lifetime=FOUR_DAYS).expired


def test_earliest_deadline_is_reported():
    # active session: max age comes first
    v = verdict(T0, last=T0 + 4 * DAY - HOUR / 2, lifetime=FOUR_DAYS)
    assert v.reason == "max_age"
    # idle session: idle deadline comes first
    v = verdict(T0, last=T0, lifetime=FOUR_DAYS)
    assert v.reason == "idle" and v.expires_at == T0 + HOUR
    # and every deadline is there to show
    assert v.deadlines == {"idle": T0 + HOUR, "max_age": T0 + 4 * DAY}
    assert verdict(T0, timeout=-1).deadlines == {}


def test_ssh_connected_then_disconnected_returns_to_idle_from_the_disconnect():
    """Absolute while any SSH connection is open; when the last closes, idle counted from then."""
    last = T0 + 10 * timedelta(minutes=1)
    browser = verdict(T0 + 20 * timedelta(minutes=1), last=last)
    assert (browser.timeout_applies, browser.timeout_basis, browser.idle_from) == ("idle", "activity", last)
    assert browser.expires_at == last + HOUR and browser.ssh_connections == 0

    # two connections open at 0:20 and 0:30: absolute from the start, whatever the activity
    record = policy.ssh_opened(policy.ssh_opened(Record(), "c1"), "c2")
    connected = verdict(T0 + 30 * timedelta(minutes=1), last=last, record=record)
    assert (connected.mode, connected.timeout_applies, connected.timeout_basis) == (
        "ssh",
        "absolute",
        "ssh_connected",
    )
    assert (
        connected.expires_at == T0 + HOUR and connected.idle_from is None and connected.ssh_connections == 2
    )

    # the first closes at 0:40: still absolute
    t1 = T0 + 40 * timedelta(minutes=1)
    record = policy.ssh_closed(record, "c1", t1)
    assert verdict(t1, last=last, record=record).timeout_applies == "absolute"
    assert record.ssh_closed_at is None

    # the last closes at 0:50: idle again, counted from 0:50 (not from the older activity at 0:10)
    t2 = T0 + 50 * timedelta(minutes=1)
    record = policy.ssh_closed(record, "c2", t2)
    after = verdict(T0 + HOUR, last=last, record=record)
    assert (after.mode, after.timeout_applies, after.timeout_basis) == ("browser", "idle", "ssh_closed")
    assert after.idle_from == t2 and after.expires_at == t2 + HOUR and not after.expired
    assert after.ssh_closed_at == t2 and after.ssh_connections == 0
    assert verdict(t2 + HOUR, last=last, record=record).expired

    # later browser activity counts from itself again
    later = t2 + 30 * timedelta(minutes=1)
    v = verdict(later, last=later, record=record)
    assert (v.timeout_basis, v.expires_at) == ("activity", later + HOUR)


def test_closing_an_unknown_connection_changes_nothing_and_reopening_goes_absolute():
    record = policy.ssh_closed(Record(), "never-opened", T0)
    assert record == Record()
    closed = policy.ssh_closed(policy.ssh_opened(Record(), "c1"), "c1", T0 + HOUR)
    reopened = policy.ssh_opened(closed, "c2")
    v = verdict(T0 + 2 * HOUR, last=T0 + 2 * HOUR, record=reopened)
    assert v.timeout_applies == "absolute" and v.expired  # started + 1 h has passed


def test_a_restarted_ssh_service_closes_its_connections_now():
    record = policy.ssh_opened(policy.ssh_opened(Record(renewals=1), "ssh:c1"), "ssh:c2")
    after = policy.ssh_all_closed(record, T0 + HOUR, "ssh:")
    assert after == Record(renewals=1, ssh_closed_at=T0 + HOUR)
    assert policy.ssh_all_closed(Record(renewals=1), T0, "ssh:") == Record(renewals=1)
    # another gateway's connections stay open
    both = policy.ssh_opened(record, "gw2:c1")
    assert policy.ssh_all_closed(both, T0, "ssh:") == Record(
        renewals=1, ssh_connections=frozenset({"gw2:c1"})
    )


def renew(now, record=Record(), lifetime=FOUR_DAYS):
    return policy.renew(started=T0, lifetime=lifetime, record=record, now=now, type_name="t")


def test_renew_moves_max_age_expiry_to_a_renewal_period_from_now():
    now = T0 + 3 * DAY
    r = renew(now)
    assert r.renewals == 1 and r.max_age_expires_at == now + 4 * DAY
    v = verdict(T0 + 5 * DAY, timeout=-1, lifetime=FOUR_DAYS, record=r)
    assert not v.expired and v.expires_at == now + 4 * DAY
    assert verdict(now + 4 * DAY, timeout=-1, lifetime=FOUR_DAYS, record=r).expired


def test_renew_does_not_reset_the_idle_timer():
    r = renew(T0 + HOUR / 2)
    v = verdict(T0 + HOUR, last=T0, lifetime=FOUR_DAYS, record=r)
    assert v.expired and v.reason == "idle"


def test_renew_is_capped_by_max_renewals_with_a_clear_message():
    r1 = renew(T0 + 23 * HOUR, lifetime=CAPPED)
    r2 = renew(T0 + 46 * HOUR, r1, lifetime=CAPPED)
    assert r2.renewals == 2 and r2.max_age_expires_at == T0 + 70 * HOUR
    assert not policy.renewable(CAPPED, r2)
    with pytest.raises(RenewError) as e:
        renew(T0 + 69 * HOUR, r2, lifetime=CAPPED)
    assert e.value.status == 409
    assert "renewed 2 time(s), the maximum" in e.value.message
    assert "2026-01-04T10:00:00Z" in e.value.message


def test_renew_that_would_not_extend_is_refused_and_not_counted():
    early = Lifetime(max_age=86400, renewal_period=3600, max_renewals=3)
    with pytest.raises(RenewError) as e:
        renew(T0 + HOUR, lifetime=early)
    assert e.value.status == 409 and "would not extend" in e.value.message
    r = renew(T0 + DAY - HOUR / 2, lifetime=early)
    assert r.renewals == 1 and r.max_age_expires_at == T0 + DAY + HOUR / 2


def test_renew_without_max_age_is_refused():
    with pytest.raises(RenewError, match="no maximum age"):
        renew(T0, lifetime=NO_LIMIT)
    with pytest.raises(RenewError, match="no maximum age"):
        policy.renew(started=T0, lifetime=None, record=Record(), now=T0, type_name="gone")


def test_unlimited_renewals_never_run_further_than_one_period_ahead():
    r = Record()
    now = T0 + 3 * DAY
    r = renew(now, r)
    with pytest.raises(RenewError):
        renew(now, r)  # the same moment: nothing to extend, nothing counted
    assert r.max_age_expires_at - now == 4 * DAY


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timeout": 900}, 900),
        ({"timeout": -1}, -1),
        ({"timeout": 0}, 1800),
        ({"timeout": -5}, 1800),
        ({"timeout": True}, 1800),
        ({"timeout": "900"}, 1800),
        ({}, 1800),
        (None, 1800),
        ("junk", 1800),
    ],
)
def test_timeout_from_recorded_options_falls_back_to_type_default(options, expected):
    assert policy.session_timeout(options, 1800, 3600) == expected
    if expected == 1800:
        assert policy.session_timeout(options, None, 3600) == 3600


def test_hub_timestamps_parse_and_format_in_utc():
    dt = policy.parse_time("2026-01-01T12:00:00.123456Z")
    assert dt == T0 + timedelta(microseconds=123456)
    assert policy.parse_time("2026-01-01T12:00:00") == T0
    assert policy.parse_time("not a time") is None
    assert policy.parse_time(None) is None
    assert policy.format_time(T0) == "2026-01-01T12:00:00Z"
