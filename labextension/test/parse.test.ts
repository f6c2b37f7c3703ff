import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  errorMessage,
  parseNewShareLink,
  parsePorts,
  parseSessionState,
  parseSharing,
  parseTiming,
  ResponseError
} from '../src/core/parse';

// Shaped like the server extension's GET sessions-api/session.
const INFO = {
  session_type: 'notebook',
  image: 'quay.io/jupyter/scipy-notebook',
  cpu: 1,
  memory: '2G',
  gpu: 0,
  display_name: 'Notebook',
  drive: 'home',
  timeout: 3600,
  collaborative: true,
  interface: { kind: 'lab' },
  server_name: '',
  service: 'sessions'
};
const TIMING = {
  user: 'alice',
  name: '',
  started: '2026-01-01T12:00:00Z',
  last_activity: '2026-01-01T12:30:00Z',
  expires_at: '2026-01-01T13:30:00Z',
  expiry_reason: 'idle',
  deadlines: { idle: '2026-01-01T13:30:00Z', max_age: '2026-01-03T12:00:00Z' },
  renewals: 1,
  max_renewals: 3,
  renewable: true,
  mode: 'browser'
};
const STATE = {
  session: INFO,
  owner: 'alice',
  server_name: '',
  you: 'alice',
  is_owner: true,
  collaborative: true,
  timing: TIMING,
  timing_error: null
};

test('a managed session is parsed with its timing', () => {
  const s = parseSessionState(STATE);
  assert.equal(s.info?.display_name, 'Notebook');
  assert.equal(s.info?.drive, 'home');
  assert.equal(s.info?.timeout, 3600);
  assert.equal(s.is_owner, true);
  assert.equal(s.collaborative, true);
  assert.equal(s.timing?.expires_at, '2026-01-01T13:30:00Z');
  assert.equal(s.timing?.expiry_reason, 'idle');
  assert.equal(s.timing?.max_renewals, 3);
  assert.equal(s.timing_error, null);
});

test('without the hub service the reason is kept and timing is null', () => {
  const s = parseSessionState({ ...STATE, timing: null, timing_error: 'The sessions service is unreachable' });
  assert.equal(s.timing, null);
  assert.equal(s.timing_error, 'The sessions service is unreachable');
});

test('a server outside a managed session has no session info', () => {
  const s = parseSessionState({ ...STATE, session: {}, is_owner: true, collaborative: false });
  assert.equal(s.info, null);
});

test('a display name falls back to the type slug; timeout -1 is allowed', () => {
  const s = parseSessionState({ session: { session_type: 'gpu', drive: 'data', timeout: -1 } });
  assert.equal(s.info?.display_name, 'gpu');
  assert.equal(s.info?.timeout, -1);
  assert.equal(s.is_owner, false);
});

test('bad session fields are named in the error', () => {
  assert.throws(() => parseSessionState(null), ResponseError);
  assert.throws(() => parseSessionState({ session: { ...INFO, drive: 7 } }), /'drive'/);
  assert.throws(() => parseSessionState({ session: { ...INFO, timeout: 0 } }), /'timeout'/);
  assert.throws(() => parseSessionState({ session: { ...INFO, timeout: '3600' } }), /'timeout'/);
  assert.throws(() => parseSessionState({ ...STATE, timing: { ...TIMING, expires_at: 'tomorrow' } }), /'expires_at'/);
  assert.throws(
    () => parseSessionState({ ...STATE, timing: { ...TIMING, expiry_reason: 'boredom' } }),
    /'expiry_reason'/
  );
  assert.throws(() => parseSessionState({ ...STATE, is_owner: 'yes' }), /'is_owner'/);
});

test('shares and share links are listed, hostile names kept as plain text', () => {
  const sharing = parseSharing({
    shares: [
      { kind: 'user', user: 'bob', group: null, scopes: ['access:servers'], created_at: '2026-01-01T12:00:00Z' },
      { kind: 'group', user: null, group: '<img src=x onerror=alert(1)>', scopes: [], created_at: null }
    ],
    share_codes: [{ id: 'sc_1', created_at: null, expires_at: '2026-01-02T12:00:00Z', exchange_count: 0 }]
  });
  assert.deepEqual(sharing.shares, [
    { kind: 'user', name: 'bob', created_at: '2026-01-01T12:00:00Z' },
    { kind: 'group', name: '<img src=x onerror=alert(1)>', created_at: null }
  ]);
  assert.deepEqual(sharing.links, [
    { id: 'sc_1', created_at: null, expires_at: '2026-01-02T12:00:00Z', exchange_count: 0 }
  ]);
  assert.throws(() => parseSharing({ shares: [{ kind: 'robot', user: 'x' }] }), /'kind'/);
  assert.throws(() => parseSharing({ shares: [{ kind: 'user', user: null }] }), /'user'/);
  assert.throws(() => parseSharing({ shares: 'nope' }), /'shares' must be a list/);
});

test('a new share link needs a code and an accept URL', () => {
  const c = parseNewShareLink({
    id: 'sc_2',
    code: 'abc',
    accept_url: 'http://127.0.0.1:8000/hub/accept-share?code=abc',
    expires_at: null
  });
  assert.equal(c.accept_url, 'http://127.0.0.1:8000/hub/accept-share?code=abc');
  assert.throws(() => parseNewShareLink({ code: 'abc', accept_url: null }), /'accept_url'/);
});

test('ports must be valid TCP ports', () => {
  assert.deepEqual(
    parsePorts([
      { port: 8000, address: '0.0.0.0', process: 'python', proxy_url: '/user/a/proxy/8000/', absolute_proxy_url: 'x' }
    ]),
    [{ port: 8000, proxy_url: '/user/a/proxy/8000/', process: 'python' }]
  );
  assert.deepEqual(parsePorts([]), []);
  assert.throws(() => parsePorts([{ port: 70000 }]), /out of range/);
  assert.throws(() => parsePorts([{ port: 80.5 }]), /'port'/);
  assert.throws(() => parsePorts({ ports: [] }), /list of ports/);
});

test('error bodies yield their message, else the HTTP status', () => {
  assert.equal(errorMessage({ status: 409, message: 'no more renewals' }, 409), 'no more renewals');
  assert.equal(errorMessage({ reason: 'Forbidden' }, 403), 'Forbidden');
  assert.equal(errorMessage('<html>', 502), 'request failed with HTTP 502');
});

test('every deadline is parsed; an older service without them gives none', () => {
  const s = parseSessionState(STATE);
  assert.deepEqual(s.timing?.deadlines, { idle: '2026-01-01T13:30:00Z', max_age: '2026-01-03T12:00:00Z' });
  const { deadlines: _unused, ...older } = TIMING;
  assert.deepEqual(parseSessionState({ ...STATE, timing: older }).timing?.deadlines, {});
});

test('a deadline with an unknown reason or no timestamp is refused', () => {
  for (const deadlines of [{ soon: '2026-01-01T13:30:00Z' }, { idle: 'tomorrow' }, ['idle']]) {
    assert.throws(() => parseSessionState({ ...STATE, timing: { ...TIMING, deadlines } }), ResponseError);
  }
});

test('timing says which timeout applies; an older service leaves it null', () => {
  const t = parseTiming({
    expires_at: '2026-01-01T13:00:00Z',
    timeout_applies: 'absolute',
    timeout_basis: 'ssh_connected',
    idle_from: null,
    ssh_connections: 2
  });
  assert.equal(t.timeout_applies, 'absolute');
  assert.equal(t.timeout_basis, 'ssh_connected');
  assert.equal(t.ssh_connections, 2);
  const old = parseTiming({ expires_at: null });
  assert.equal(old.timeout_applies, null);
  assert.equal(old.ssh_connections, 0);
  assert.throws(() => parseTiming({ timeout_applies: 'forever' }), /timeout_applies/);
  assert.throws(() => parseTiming({ timeout_basis: 'magic' }), /timeout_basis/);
  assert.throws(() => parseTiming({ ssh_connections: -1 }), /ssh_connections/);
});

test("the session's scratch directory is read when the session has one", () => {
  assert.equal(parseSessionState(STATE).info?.scratch, null);
  const withScratch = { ...STATE, session: { ...INFO, scratch: '/data/scratch/alice/_default' } };
  assert.equal(parseSessionState(withScratch).info?.scratch, '/data/scratch/alice/_default');
  assert.throws(
    () => parseSessionState({ ...STATE, session: { ...INFO, scratch: 7 } }),
    /'scratch' must be a string or null/
  );
});
