import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ExpiryWarner } from '../src/core/warning';

test('each threshold is announced once as the countdown passes it', () => {
  const w = new ExpiryWarner([600, 60]);
  const key = '2026-01-01T13:00:00Z';
  assert.equal(w.check(key, 1200), null);
  assert.equal(w.check(key, 600), 600);
  assert.equal(w.check(key, 599), null);
  assert.equal(w.check(key, 61), null);
  assert.equal(w.check(key, 60), 60);
  assert.equal(w.check(key, 10), null);
});

test('a late first look announces only the most urgent threshold', () => {
  const w = new ExpiryWarner([60, 600]);
  assert.equal(w.check('k', 30), 60);
  assert.equal(w.check('k', 29), null);
});

test('a new expiry (renewal) re-arms the warnings', () => {
  const w = new ExpiryWarner([600]);
  assert.equal(w.check('a', 500), 600);
  assert.equal(w.check('a', 400), null);
  assert.equal(w.check('b', 3600), null);
  assert.equal(w.check('b', 590), 600);
});

test('sessions that never expire are never warned about', () => {
  const w = new ExpiryWarner();
  assert.equal(w.check(null, null), null);
  assert.equal(w.check('k', null), null);
});

test('bad thresholds are refused', () => {
  assert.throws(() => new ExpiryWarner([0]), /positive/);
  assert.throws(() => new ExpiryWarner([NaN]), /positive/);
});
