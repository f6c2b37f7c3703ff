import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ISessionState, parseSessionState } from '../src/core/parse';
import { statusLine } from '../src/core/status';

function state(timing: object | null, timingError: string | null = null): ISessionState {
  return parseSessionState({
    session: { session_type: 'nb', display_name: 'Notebook', drive: 'home', timeout: 3600 },
    is_owner: true,
    timing,
    timing_error: timingError
  });
}

const TIMING = { expires_at: '2026-01-01T13:00:00Z', expiry_reason: 'idle', renewable: false };

test('the line shows the type and the time left', () => {
  const line = statusLine(state(TIMING), 3900);
  assert.equal(line.text, 'Notebook · 1 h 05 min left');
  assert.match(line.title, /when idle/);
  assert.equal(line.warn, false);
});

test('the line turns to a warning within ten minutes', () => {
  assert.equal(statusLine(state(TIMING), 600).warn, true);
  assert.equal(statusLine(state(TIMING), 601).warn, false);
});

test('without hub timing the line says so and the tooltip says why', () => {
  const line = statusLine(state(null, 'The sessions service is unreachable'), null);
  assert.equal(line.text, 'Notebook · time left unknown');
  assert.equal(line.title, 'The sessions service is unreachable');
});

test('a session that never expires says so', () => {
  assert.equal(statusLine(state({ expires_at: null }), null).text, 'Notebook · no expiry');
});

test('outside a managed session the line is empty', () => {
  assert.equal(statusLine(null, null).text, '');
  assert.equal(statusLine(parseSessionState({ session: {} }), null).text, '');
});
