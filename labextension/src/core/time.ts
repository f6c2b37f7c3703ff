/**
 * Time left until a session expires, and how to say it. Pure: every function
 * takes "now" explicitly so the countdown is testable without a clock.
 */

/** Seconds (rounded down, never negative) from `nowMs` until `expiresAt`; null = never expires. */
export function secondsLeft(expiresAt: string | null, nowMs: number): number | null {
  if (expiresAt === null) {
    return null;
  }
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) {
    return null;
  }
  return Math.max(0, Math.floor((at - nowMs) / 1000));
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/**
 * A compact countdown: "2 d 03 h", "1 h 05 min", "9 min 30 s", "45 s".
 * Two units at most: past an hour, seconds are noise.
 */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const secs = s % 60;
  if (days > 0) {
    return `${days} d ${pad(hours)} h`;
  }
  if (hours > 0) {
    return `${hours} h ${pad(minutes)} min`;
  }
  if (minutes > 0) {
    return `${minutes} min ${pad(secs)} s`;
  }
  return `${secs} s`;
}

/** A session timeout setting in words: -1 means never. */
export function formatTimeout(timeout: number): string {
  return timeout === -1 ? 'never' : formatDuration(timeout);
}

/**
 * How far the server clock is ahead of ours (ms), from an HTTP Date header of
 * a request sent at `sentMs` and answered at `receivedMs` (our clock).
 *
 * Date has one-second resolution and the answer may be slow, so the estimate
 * is only good to about half a second plus half the round trip. Within that
 * uncertainty the current offset is kept, so the countdown does not jump
 * back and forth between polls.
 */
export function clockOffset(
  dateHeader: string | null,
  sentMs: number,
  receivedMs: number,
  currentMs = 0
): number {
  if (!dateHeader) {
    return currentMs;
  }
  const server = Date.parse(dateHeader);
  if (Number.isNaN(server)) {
    return currentMs;
  }
  // The server stamped some time in [server, server + 1 s) while we waited.
  const estimate = server + 500 - (sentMs + receivedMs) / 2;
  const uncertainty = 500 + (receivedMs - sentMs) / 2 + 1000;
  if (Math.abs(estimate - currentMs) <= uncertainty) {
    return currentMs;
  }
  return Math.abs(estimate) <= uncertainty ? 0 : Math.round(estimate);
}

/** Why a session ends, in words, for the reasons the hub service reports. */
export function describeReason(reason: string | null): string {
  switch (reason) {
    case 'idle':
      return 'when idle';
    case 'absolute':
      return 'timeout';
    case 'max_age':
      return 'maximum age';
    default:
      return '';
  }
}

/** A timestamp shown to the user in their locale; '' when absent or unparsable. */
export function formatTimestamp(iso: string | null, locale?: string): string {
  if (!iso) {
    return '';
  }
  const t = Date.parse(iso);
  if (Number.isNaN(t)) {
    return '';
  }
  return new Date(t).toLocaleString(locale);
}

const LATER_LABELS: Record<string, string> = {
  idle: 'Idle timeout at',
  absolute: 'Timeout at',
  max_age: 'Maximum age at'
};

/**
 * The deadlines other than the one that ends the session first, in time
 * order: after a Renew, the moved maximum age shows even while the idle
 * timeout comes first.
 */
export function laterDeadlines(
  deadlines: Partial<Record<string, string>>,
  firstReason: string | null
): Array<{ reason: string; label: string; at: string }> {
  return Object.entries(deadlines)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== firstReason)
    .filter(([reason]) => reason in LATER_LABELS)
    .sort((a, b) => Date.parse(a[1]) - Date.parse(b[1]))
    .map(([reason, at]) => ({ reason, label: LATER_LABELS[reason], at }));
}

/** The facts `describeTimeout` needs (a subset of the session timing). */
export interface ITimeoutFacts {
  timeout_applies: 'idle' | 'absolute' | null;
  timeout_basis: string | null;
  idle_from: string | null;
  ssh_connections: number;
}

/**
 * Which timeout applies to the session and why, in words: the idle timeout
 * counts from the last activity (or from when the last SSH connection
 * closed); while SSH connections are open, the timeout counts from the start.
 */
export function describeTimeout(
  timeout: number,
  facts: ITimeoutFacts | null,
  locale?: string
): { label: string; why: string } {
  const length = formatTimeout(timeout);
  if (timeout === -1) {
    return { label: 'never', why: 'This session has no idle or absolute timeout.' };
  }
  if (!facts || facts.timeout_applies === null) {
    return { label: `${length} idle`, why: '' };
  }
  if (facts.timeout_applies === 'absolute') {
    const n = facts.ssh_connections;
    const open = n === 1 ? '1 SSH connection is open' : `${n} SSH connections are open`;
    return {
      label: `${length} from the start`,
      why: `${open}, so it counts from the start; when the last one closes, the idle timeout counts again, from then.`
    };
  }
  const since = formatTimestamp(facts.idle_from, locale);
  if (facts.timeout_basis === 'ssh_closed') {
    return {
      label: `${length} idle`,
      why: `Counted from when the last SSH connection closed${since ? ` (${since})` : ''}.`
    };
  }
  return {
    label: `${length} idle`,
    why: `Counted from the last activity${since ? ` (${since})` : ''}; an open SSH connection switches to a timeout from the start.`
  };
}
