/**
 * The session as the front end sees it: polls the server extension, keeps a
 * one-second clock for the countdown, and runs the owner's actions.
 * Widgets only read this and call its methods.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { ApiError, SessionsApi } from './api';
import { INewShareLink, IPort, ISessionState, ISharing } from './core/parse';
import { clockOffset, secondsLeft } from './core/time';

/** How often the session's timing is re-read from the server (ms). */
const POLL_INTERVAL = 30 * 1000;

export class SessionModel implements IDisposable {
  constructor(readonly api: SessionsApi) {
    this._poll = new Poll({
      auto: false,
      factory: () => this.refresh(),
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 5 * 60 * 1000 },
      name: 'jupyterhub-sessions:session',
      standby: 'when-hidden'
    });
    this._timer = window.setInterval(() => this._tick(), 1000);
  }

  /** Emitted whenever anything shown may have changed (data, errors, busy flags). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted every second with the seconds left (null = unknown or never). */
  get ticked(): ISignal<this, number | null> {
    return this._ticked;
  }

  /** False once the server says this is not a managed session (nothing to show). */
  get active(): boolean {
    return this._active;
  }

  get state(): ISessionState | null {
    return this._state;
  }

  get error(): string | null {
    return this._error;
  }

  get sharing(): ISharing | null {
    return this._sharing;
  }

  get sharingError(): string | null {
    return this._sharingError;
  }

  get ports(): IPort[] | null {
    return this._ports;
  }

  get portsError(): string | null {
    return this._portsError;
  }

  /** The share link created last: its URL is only ever shown once. */
  get newLink(): INewShareLink | null {
    return this._newLink;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Whether an action (renew, share, revoke...) is running. */
  busy(action: string): boolean {
    return this._busy.has(action);
  }

  /** Now on the server's clock (ms). */
  now(): number {
    return Date.now() + this._offset;
  }

  secondsLeft(): number | null {
    const expires = this._state?.timing?.expires_at ?? null;
    return secondsLeft(expires, this.now());
  }

  /** Start polling; resolves after the first answer. */
  async start(): Promise<void> {
    await this.refresh();
    if (this._active) {
      void this._poll.start();
    }
  }

  async refresh(): Promise<void> {
    try {
      const sent = Date.now();
      const answer = await this.api.session();
      this._offset = clockOffset(answer.date, sent, Date.now(), this._offset);
      this._state = answer.data;
      this._error = null;
      if (answer.data.info === null) {
        this._deactivate();
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        // The server extension is not loaded here: not a managed session.
        this._deactivate();
      } else {
        this._error = messageOf(err);
      }
    }
    this._zeroFor = null;
    this._changed.emit();
  }

  async renew(): Promise<void> {
    await this._run('renew', async () => {
      await this.api.renew();
      await this.refresh();
    });
  }

  async refreshSharing(): Promise<void> {
    try {
      this._sharing = await this.api.sharing();
      this._sharingError = null;
    } catch (err) {
      this._sharingError = messageOf(err);
    }
    this._changed.emit();
  }

  async createShareLink(): Promise<INewShareLink | null> {
    let link: INewShareLink | null = null;
    await this._run('share', async () => {
      link = await this.api.createShareLink();
      this._newLink = link;
      await this.refreshSharing();
    });
    return link;
  }

  async grantShare(kind: 'user' | 'group', name: string): Promise<void> {
    await this._run('grant', async () => {
      await this.api.grantShare(kind, name);
      await this.refreshSharing();
    });
  }

  async revokeShare(kind: 'user' | 'group', name: string): Promise<void> {
    await this._run(`revoke:${kind}:${name}`, async () => {
      await this.api.revokeShare(kind, name);
      await this.refreshSharing();
    });
  }

  async revokeShareLinks(): Promise<void> {
    await this._run('revoke-links', async () => {
      await this.api.revokeShareLinks();
      this._newLink = null;
      await this.refreshSharing();
    });
  }

  async refreshPorts(): Promise<void> {
    try {
      this._ports = await this.api.ports();
      this._portsError = null;
    } catch (err) {
      this._portsError = messageOf(err);
    }
    this._changed.emit();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearInterval(this._timer);
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** Runs an action with its busy flag; failures are rethrown for the UI to report. */
  private async _run(action: string, fn: () => Promise<void>): Promise<void> {
    if (this._busy.has(action)) {
      return;
    }
    this._busy.add(action);
    this._changed.emit();
    try {
      await fn();
    } finally {
      this._busy.delete(action);
      this._changed.emit();
    }
  }

  private _tick(): void {
    if (!this._active) {
      return;
    }
    const left = this.secondsLeft();
    this._ticked.emit(left);
    // At zero, look again once: activity or a renewal elsewhere may have moved it.
    const expires = this._state?.timing?.expires_at ?? null;
    if (left === 0 && this._zeroFor !== expires) {
      this._zeroFor = expires;
      void this._poll.refresh();
    }
  }

  private _deactivate(): void {
    this._active = false;
    this._poll.dispose();
  }

  private _active = true;
  private _busy = new Set<string>();
  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _isDisposed = false;
  private _newLink: INewShareLink | null = null;
  private _offset = 0;
  private _poll: Poll;
  private _ports: IPort[] | null = null;
  private _portsError: string | null = null;
  private _sharing: ISharing | null = null;
  private _sharingError: string | null = null;
  private _state: ISessionState | null = null;
  private _ticked = new Signal<this, number | null>(this);
  private _timer: number;
  private _zeroFor: string | null = null;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
