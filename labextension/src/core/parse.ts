/**
 * Validation of the server extension's JSON (`{baseUrl}sessions-api/`).
 * Every parser either returns a well-typed value or throws a ResponseError
 * naming the bad field, so the UI never renders half-understood data.
 */

export class ResponseError extends Error {
  constructor(what: string, reason: string) {
    super(`unexpected ${what} from the sessions API: ${reason}`);
    this.name = 'ResponseError';
  }
}

export type ExpiryReason = 'idle' | 'absolute' | 'max_age';

/** Why the idle/absolute timeout counts from where it does (sessions service `timeout_basis`). */
export type TimeoutBasis = 'activity' | 'ssh_closed' | 'ssh_connected' | 'never';

/** The session's options (`JUPYTERHUB_SESSIONS_SESSION`). */
export interface ISessionInfo {
  session_type: string;
  display_name: string;
  drive: string;
  /** seconds; -1 = never */
  timeout: number;
  collaborative: boolean;
  server_name: string;
  /** The session's private scratch directory ($SCRATCH, emptied when it stops), or null. */
  scratch: string | null;
}

/** The hub service's view of the session: when and why it ends. */
export interface ITiming {
  started: string | null;
  last_activity: string | null;
  expires_at: string | null;
  expiry_reason: ExpiryReason | null;
  /** Every deadline that applies, by reason; `expires_at` is the earliest. */
  deadlines: Partial<Record<ExpiryReason, string>>;
  renewable: boolean;
  renewals: number;
  max_renewals: number | null;
  /** Which timeout applies now: idle, absolute (SSH connected), or null (never). */
  timeout_applies: 'idle' | 'absolute' | null;
  timeout_basis: TimeoutBasis | null;
  /** When the idle timer started counting (last activity, or the last SSH disconnect). */
  idle_from: string | null;
  ssh_connections: number;
}

/** GET session. `info` is null on a server that is not a managed session. */
export interface ISessionState {
  info: ISessionInfo | null;
  owner: string;
  you: string | null;
  is_owner: boolean;
  collaborative: boolean;
  timing: ITiming | null;
  /** Why timing is unknown (hub service unreachable...), or null. */
  timing_error: string | null;
}

export interface IShare {
  kind: 'user' | 'group';
  name: string;
  created_at: string | null;
}

/** A share link (code) as listed: the code itself is only shown once, on creation. */
export interface IShareLink {
  id: string;
  created_at: string | null;
  expires_at: string | null;
  exchange_count: number;
}

/** GET shares: who has access and the share links still out there. */
export interface ISharing {
  shares: IShare[];
  links: IShareLink[];
}

/** POST share-codes. */
export interface INewShareLink {
  id: string | null;
  code: string;
  accept_url: string;
  expires_at: string | null;
}

export interface IPort {
  port: number;
  proxy_url: string | null;
  /** The listening process's name, when the server knows it. */
  process: string | null;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) {
    throw new ResponseError(what, 'not a JSON object');
  }
  return v;
}

function str(o: Obj, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') {
    throw new ResponseError(what, `'${key}' must be a non-empty string`);
  }
  return v;
}

function optStr(o: Obj, key: string, what: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) {
    return null;
  }
  if (typeof v !== 'string') {
    throw new ResponseError(what, `'${key}' must be a string or null`);
  }
  return v;
}

function optTime(o: Obj, key: string, what: string): string | null {
  const v = optStr(o, key, what);
  if (v !== null && Number.isNaN(Date.parse(v))) {
    throw new ResponseError(what, `'${key}' is not a timestamp`);
  }
  return v;
}

function int(o: Obj, key: string, what: string, fallback?: number): number {
  const v = o[key];
  if (v === undefined && fallback !== undefined) {
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new ResponseError(what, `'${key}' must be an integer`);
  }
  return v;
}

function optInt(o: Obj, key: string, what: string): number | null {
  return o[key] === undefined || o[key] === null ? null : int(o, key, what);
}

function bool(o: Obj, key: string, what: string, fallback: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) {
    return fallback;
  }
  if (typeof v !== 'boolean') {
    throw new ResponseError(what, `'${key}' must be true or false`);
  }
  return v;
}

const REASONS: readonly string[] = ['idle', 'absolute', 'max_age'];
const BASES: readonly string[] = ['activity', 'ssh_closed', 'ssh_connected', 'never'];

function parseInfo(o: Obj): ISessionInfo {
  const what = 'session';
  const timeout = int(o, 'timeout', what);
  if (timeout !== -1 && timeout <= 0) {
    throw new ResponseError(what, "'timeout' must be positive seconds or -1");
  }
  const sessionType = str(o, 'session_type', what);
  return {
    session_type: sessionType,
    display_name: optStr(o, 'display_name', what) || sessionType,
    drive: str(o, 'drive', what),
    timeout,
    collaborative: bool(o, 'collaborative', what, false),
    server_name: optStr(o, 'server_name', what) ?? '',
    scratch: optStr(o, 'scratch', what) || null
  };
}

function parseDeadlines(o: Obj, what: string): Partial<Record<ExpiryReason, string>> {
  if (o.deadlines === undefined || o.deadlines === null) {
    return {}; // an older sessions service
  }
  const d = obj(o.deadlines, what);
  const out: Partial<Record<ExpiryReason, string>> = {};
  for (const key of Object.keys(d)) {
    if (!REASONS.includes(key)) {
      throw new ResponseError(what, `deadline '${key}' is not one of ${REASONS.join(', ')}`);
    }
    const at = optTime(d, key, what);
    if (at !== null) {
      out[key as ExpiryReason] = at;
    }
  }
  return out;
}

export function parseTiming(data: unknown): ITiming {
  const what = 'session timing';
  const o = obj(data, what);
  const reason = optStr(o, 'expiry_reason', what);
  if (reason !== null && !REASONS.includes(reason)) {
    throw new ResponseError(what, `'expiry_reason' is not one of ${REASONS.join(', ')}`);
  }
  return {
    started: optTime(o, 'started', what),
    last_activity: optTime(o, 'last_activity', what),
    expires_at: optTime(o, 'expires_at', what),
    expiry_reason: reason as ExpiryReason | null,
    deadlines: parseDeadlines(o, what),
    renewable: bool(o, 'renewable', what, false),
    renewals: int(o, 'renewals', what, 0),
    max_renewals: optInt(o, 'max_renewals', what),
    ...parseTimeoutFacts(o, what)
  };
}

/** Which timeout applies and why; absent fields (an older sessions service) are null. */
function parseTimeoutFacts(
  o: Obj,
  what: string
): Pick<ITiming, 'timeout_applies' | 'timeout_basis' | 'idle_from' | 'ssh_connections'> {
  const applies = optStr(o, 'timeout_applies', what);
  if (applies !== null && applies !== 'idle' && applies !== 'absolute') {
    throw new ResponseError(what, "'timeout_applies' is not one of idle, absolute");
  }
  const basis = optStr(o, 'timeout_basis', what);
  if (basis !== null && !BASES.includes(basis)) {
    throw new ResponseError(what, `'timeout_basis' is not one of ${BASES.join(', ')}`);
  }
  const connections = int(o, 'ssh_connections', what, 0);
  if (connections < 0) {
    throw new ResponseError(what, "'ssh_connections' must not be negative");
  }
  return {
    timeout_applies: applies as 'idle' | 'absolute' | null,
    timeout_basis: basis as TimeoutBasis | null,
    idle_from: optTime(o, 'idle_from', what),
    ssh_connections: connections
  };
}

export function parseSessionState(data: unknown): ISessionState {
  const what = 'session';
  const o = obj(data, what);
  const session = o.session === undefined || o.session === null ? {} : obj(o.session, what);
  const info = Object.keys(session).length === 0 ? null : parseInfo(session);
  return {
    info,
    owner: optStr(o, 'owner', what) ?? '',
    you: optStr(o, 'you', what),
    is_owner: bool(o, 'is_owner', what, false),
    collaborative: bool(o, 'collaborative', what, info?.collaborative ?? false),
    timing: o.timing === undefined || o.timing === null ? null : parseTiming(o.timing),
    timing_error: optStr(o, 'timing_error', what)
  };
}

function parseShare(item: unknown): IShare {
  const what = 'share';
  const o = obj(item, what);
  const kind = o.kind;
  if (kind !== 'user' && kind !== 'group') {
    throw new ResponseError(what, "'kind' must be 'user' or 'group'");
  }
  return { kind, name: str(o, kind, what), created_at: optTime(o, 'created_at', what) };
}

function parseLink(item: unknown): IShareLink {
  const what = 'share link';
  const o = obj(item, what);
  return {
    id: str(o, 'id', what),
    created_at: optTime(o, 'created_at', what),
    expires_at: optTime(o, 'expires_at', what),
    exchange_count: int(o, 'exchange_count', what, 0)
  };
}

function list(o: Obj, key: string, what: string): unknown[] {
  const v = o[key] ?? [];
  if (!Array.isArray(v)) {
    throw new ResponseError(what, `'${key}' must be a list`);
  }
  return v;
}

export function parseSharing(data: unknown): ISharing {
  const what = 'shares';
  const o = obj(data, what);
  return {
    shares: list(o, 'shares', what).map(parseShare),
    links: list(o, 'share_codes', what).map(parseLink)
  };
}

export function parseNewShareLink(data: unknown): INewShareLink {
  const what = 'new share link';
  const o = obj(data, what);
  return {
    id: optStr(o, 'id', what),
    code: str(o, 'code', what),
    accept_url: str(o, 'accept_url', what),
    expires_at: optTime(o, 'expires_at', what)
  };
}

export function parsePorts(data: unknown): IPort[] {
  const what = 'ports';
  if (!Array.isArray(data)) {
    throw new ResponseError(what, 'expected a list of ports');
  }
  return data.map(item => {
    const o = obj(item, what);
    const port = int(o, 'port', what);
    if (port < 1 || port > 65535) {
      throw new ResponseError(what, `port ${port} is out of range`);
    }
    return {
      port,
      proxy_url: optStr(o, 'proxy_url', what),
      process: optStr(o, 'process', what)
    };
  });
}

/** The human message of an error response (`{"message": ...}`), else a generic one. */
export function errorMessage(data: unknown, status: number): string {
  if (isObj(data)) {
    for (const key of ['message', 'reason']) {
      const v = data[key];
      if (typeof v === 'string' && v.trim() !== '') {
        return v;
      }
    }
  }
  return `request failed with HTTP ${status}`;
}
