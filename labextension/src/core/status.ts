/**
 * The one-line summary of a session (status bar / Notebook header).
 */
import { ISessionState } from './parse';
import { describeReason, formatDuration } from './time';
import { DEFAULT_THRESHOLDS } from './warning';

export interface IStatusLine {
  text: string;
  title: string;
  /** Shown in the warning colour: the first expiry warning has been passed. */
  warn: boolean;
}

export function statusLine(state: ISessionState | null, left: number | null): IStatusLine {
  const info = state?.info;
  if (!state || !info) {
    return { text: '', title: '', warn: false };
  }
  const timing = state.timing;
  if (timing === null) {
    return {
      text: `${info.display_name} · time left unknown`,
      title: state.timing_error ?? 'The hub did not say when this session ends',
      warn: false
    };
  }
  if (timing.expires_at === null || left === null) {
    return { text: `${info.display_name} · no expiry`, title: 'This session does not expire', warn: false };
  }
  const reason = describeReason(timing.expiry_reason);
  return {
    text: `${info.display_name} · ${formatDuration(left)} left`,
    title: `Session ends in ${formatDuration(left)}${reason ? ` (${reason})` : ''}; click for details`,
    warn: left <= Math.max(...DEFAULT_THRESHOLDS)
  };
}
