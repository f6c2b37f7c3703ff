import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  clockOffset,
  describeReason,
  describeTimeout,
  formatDuration,
  formatTimeout,
  laterDeadlines,
  secondsLeft
} from '../src/core/time';

const T0 = Date.parse('2026-01-01T12:00:00Z');

test('seconds left counts down to the expiry and stops at zero', () => {
  assert.equal(secondsLeft('2026-01-01T13:00:00Z', T0), 3600);
  assert.equal(secondsLeft('2026-01-01T13:00:00Z', T0 + 1500), 3598);
  assert.equal(secondsLeft('2026-01-01T11:00:00Z', T0), 0);
});

test('no expiry or a broken timestamp means no countdown', () => {
  assert.equal(secondsLeft(null, T0), null);
  assert.equal(secondsLeft('soon', T0), null);
});

test('timestamps with offsets are honoured', () => {
  assert.equal(secondsLeft('2026-01-01T13:30:00+01:00', T0), 1800);
});

test('durations use at most two units', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(45), '45 s');
  assert.equal(formatDuration(570), '9 min 30 s');
  assert.equal(formatDuration(3900), '1 h 05 min');
  assert.equal(formatDuration(3 * 86400 + 7200 + 59), '3 d 02 h');
  assert.equal(formatDuration(-5), '0 s');
});

test('timeout -1 reads as never', () => {
  assert.equal(formatTimeout(-1), 'never');
  assert.equal(formatTimeout(3600), '1 h 00 min');
});

test('clock offset comes from the Date header of a fast answer', () => {
  // The server is a minute ahead; the answer took 100 ms.
  const header = new Date(T0 + 60_000).toUTCString();
  assert.equal(clockOffset(header, T0 - 50, T0 + 50), 60_500);
});

test('offsets within the uncertainty of the Date header count as none', () => {
  assert.equal(clockOffset(new Date(T0).toUTCString(), T0 + 900, T0 + 950), 0);
  // a slow answer (4 s round trip) widens the uncertainty
  assert.equal(clockOffset(new Date(T0).toUTCString(), T0, T0 + 4000), 0);
});

test('a known offset is kept unless a new estimate clearly differs', () => {
  const header = new Date(T0 + 60_000).toUTCString();
  assert.equal(clockOffset(header, T0 - 50, T0 + 50, 59_000), 59_000);
  assert.equal(clockOffset(header, T0 - 50, T0 + 50, 10_000), 60_500);
  assert.equal(clockOffset(new Date(T0).toUTCString(), T0, T0 + 10, 60_000), 0);
});

test('a missing or broken Date header keeps the current offset', () => {
  assert.equal(clockOffset(null, T0, T0), 0);
  assert.equal(clockOffset('garbage', T0, T0, 5000), 5000);
});

test('expiry reasons are described in words', () => {
  assert.equal(describeReason('idle'), 'when idle');
  assert.equal(describeReason('max_age'), 'maximum age');
  assert.equal(describeReason(null), '');
});

test('later deadlines leave out the first one and come in time order', () => {
  const deadlines = {
    max_age: '2026-01-02T12:00:00Z',
    idle: '2026-01-01T13:00:00Z',
    absolute: '2026-01-01T18:00:00Z'
  };
  assert.deepEqual(
    laterDeadlines(deadlines, 'idle').map(d => [d.label, d.at]),
    [
      ['Timeout at', '2026-01-01T18:00:00Z'],
      ['Maximum age at', '2026-01-02T12:00:00Z']
    ]
  );
  assert.deepEqual(laterDeadlines({ max_age: '2026-01-02T12:00:00Z' }, 'max_age'), []);
  assert.deepEqual(laterDeadlines({}, null), []);
  assert.deepEqual(laterDeadlines({ bogus: '2026-01-02T12:00:00Z' } as Record<string, string>, null), []);
});

test('the timeout row says which timeout applies and why', () => {
  const idle = describeTimeout(3600, {
    timeout_applies: 'idle',
    timeout_basis: 'activity',
    idle_from: '2026-01-01T12:00:00Z',
    ssh_connections: 0
  });
  assert.equal(idle.label, '1 h 00 min idle');
  assert.match(idle.why, /^Counted from the last activity/);
  const connected = describeTimeout(3600, {
    timeout_applies: 'absolute',
    timeout_basis: 'ssh_connected',
    idle_from: null,
    ssh_connections: 2
  });
  assert.equal(connected.label, '1 h 00 min from the start');
  assert.match(connected.why, /^2 SSH connections are open, so it counts from the start; when the last one closes/);
  const one = describeTimeout(3600, { timeout_applies: 'absolute', timeout_basis: 'ssh_connected', idle_from: null, ssh_connections: 1 });
  assert.match(one.why, /^1 SSH connection is open/);
  const closed = describeTimeout(3600, {
    timeout_applies: 'idle',
    timeout_basis: 'ssh_closed',
    idle_from: '2026-01-01T12:00:00Z',
    ssh_connections: 0
  });
  assert.match(closed.why, /^Counted from when the last SSH connection closed \(.+\)\.$/);
  assert.deepEqual(describeTimeout(-1, null), { label: 'never', why: 'This session has no idle or absolute timeout.' });
  assert.deepEqual(describeTimeout(600, null), { label: '10 min 00 s idle', why: '' }); // an older service
});
