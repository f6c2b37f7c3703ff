/**
 * The side panel: session facts, a live countdown with Renew, Share (only in
 * collaborative mode) and Ports. All server text is rendered by React as
 * text, never as HTML.
 */
import { Clipboard, Notification } from '@jupyterlab/apputils';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React from 'react';

import { INewShareLink, IPort, IShare, ISharing, ITiming } from '../core/parse';
import { describeReason, describeTimeout, formatDuration, formatTimestamp, laterDeadlines } from '../core/time';
import { httpUrl, proxyLink } from '../core/urls';
import { DEFAULT_THRESHOLDS } from '../core/warning';
import { messageOf, SessionModel } from '../model';
import { sessionIcon } from './icon';

/** Runs an action and reports failures as a notification the user can read. */
function report(what: string, action: Promise<unknown>): void {
  action.catch(err => Notification.error(`${what} failed: ${messageOf(err)}`, { autoClose: 8000 }));
}

function Row(props: { label: string; value: React.ReactNode; cls?: string }): JSX.Element {
  return (
    <>
      <dt>{props.label}</dt>
      <dd className={props.cls}>{props.value}</dd>
    </>
  );
}

function Countdown(props: { model: SessionModel }): JSX.Element {
  const { model } = props;
  return (
    <UseSignal signal={model.ticked}>
      {() => {
        // Read at render time: a re-render after new data must not show the last tick's value.
        const left = model.secondsLeft();
        const timing = model.state?.timing ?? null;
        if (timing === null) {
          return <span className="jp-SessionsPanel-timeLeft jp-mod-unknown">unknown</span>;
        }
        if (timing.expires_at === null || left === null) {
          return <span className="jp-SessionsPanel-timeLeft">no expiry</span>;
        }
        const reason = describeReason(timing.expiry_reason);
        const urgent = left <= Math.max(...DEFAULT_THRESHOLDS) ? ' jp-mod-warn' : '';
        return (
          <span className={`jp-SessionsPanel-timeLeft${urgent}`} title={`expires ${formatTimestamp(timing.expires_at)}`}>
            {formatDuration(left)}
            {reason ? <span className="jp-SessionsPanel-reason"> ({reason})</span> : null}
          </span>
        );
      }}
    </UseSignal>
  );
}

/** Which timeout applies (idle, or from the start while SSH connections are open) and why. */
function TimeoutRow(props: { timeout: number; timing: ITiming | null }): JSX.Element {
  const { label, why } = describeTimeout(props.timeout, props.timing);
  return (
    <Row
      label="Timeout"
      cls="jp-SessionsPanel-timeout"
      value={
        <>
          <span className="jp-SessionsPanel-timeoutKind">{label}</span>
          {why ? <span className="jp-SessionsPanel-timeoutWhy">{why}</span> : null}
        </>
      }
    />
  );
}

function SessionSection(props: { model: SessionModel }): JSX.Element {
  const { model } = props;
  const state = model.state;
  const info = state?.info;
  if (!state || !info) {
    return <p className="jp-SessionsPanel-note">{model.error ?? 'Loading…'}</p>;
  }
  const timing = state.timing;
  const renewals =
    timing && timing.max_renewals !== null
      ? `${timing.renewals} of ${timing.max_renewals}`
      : timing
        ? `${timing.renewals}`
        : '';
  return (
    <section className="jp-SessionsPanel-section jp-SessionsPanel-session">
      <dl className="jp-SessionsPanel-facts">
        <Row label="Type" value={info.display_name} cls="jp-SessionsPanel-type" />
        {info.server_name ? <Row label="Server" value={info.server_name} /> : null}
        <Row label="Drive" value={info.drive} cls="jp-SessionsPanel-drive" />
        {info.scratch ? (
          <Row
            label="Scratch"
            value={<span title="$SCRATCH: private to this session, emptied when it stops">{info.scratch}</span>}
            cls="jp-SessionsPanel-scratch"
          />
        ) : null}
        {timing?.started ? (
          <Row label="Started" value={formatTimestamp(timing.started)} cls="jp-SessionsPanel-started" />
        ) : null}
        <TimeoutRow timeout={info.timeout} timing={timing} />
        <Row label="Time left" value={<Countdown model={model} />} />
        {timing?.expires_at ? (
          <Row label="Ends at" value={formatTimestamp(timing.expires_at)} cls="jp-SessionsPanel-expires" />
        ) : null}
        {timing
          ? laterDeadlines(timing.deadlines, timing.expiry_reason).map(d => (
              <Row
                key={d.reason}
                label={d.label}
                value={formatTimestamp(d.at)}
                cls={`jp-SessionsPanel-deadline jp-mod-${d.reason}`}
              />
            ))
          : null}
        {renewals ? <Row label="Renewals" value={renewals} cls="jp-SessionsPanel-renewals" /> : null}
        {!state.is_owner && state.owner ? <Row label="Owner" value={state.owner} /> : null}
      </dl>
      {state.timing_error ? (
        <p className="jp-SessionsPanel-note jp-SessionsPanel-timingError">
          Time left is unknown: {state.timing_error}
        </p>
      ) : null}
      {model.error ? <p className="jp-SessionsPanel-note jp-mod-error">{model.error}</p> : null}
      {state.is_owner && timing?.renewable ? (
        <button
          className="jp-Button jp-mod-styled jp-mod-accept jp-SessionsPanel-renew"
          disabled={model.busy('renew')}
          onClick={() =>
            report(
              'Renew',
              model.renew().then(() => Notification.success('Session renewed', { autoClose: 4000 }))
            )
          }
        >
          Renew
        </button>
      ) : null}
    </section>
  );
}

function NewLink(props: { link: INewShareLink }): JSX.Element | null {
  const url = httpUrl(props.link.accept_url, window.location.origin);
  if (url === null) {
    return <p className="jp-SessionsPanel-note jp-mod-error">The server returned an unusable share link.</p>;
  }
  return (
    <div className="jp-SessionsPanel-newLink">
      <input
        className="jp-SessionsPanel-linkInput"
        readOnly
        value={url.href}
        aria-label="Share link"
        onFocus={e => e.currentTarget.select()}
      />
      <button
        className="jp-Button jp-mod-styled jp-mod-reject"
        onClick={() => {
          Clipboard.copyToSystem(url.href);
          Notification.success('Share link copied to the clipboard', { autoClose: 4000 });
        }}
      >
        Copy
      </button>
      {props.link.expires_at ? (
        <span className="jp-SessionsPanel-hint">valid until {formatTimestamp(props.link.expires_at)}</span>
      ) : null}
    </div>
  );
}

function ShareRow(props: { model: SessionModel; share: IShare }): JSX.Element {
  const { model, share } = props;
  return (
    <li className="jp-SessionsPanel-share">
      <span className="jp-SessionsPanel-shareName">{share.name}</span>
      {share.kind === 'group' ? <span className="jp-SessionsPanel-hint"> (group)</span> : null}
      <button
        className="jp-Button jp-mod-styled jp-mod-warn jp-SessionsPanel-revoke"
        disabled={model.busy(`revoke:${share.kind}:${share.name}`)}
        aria-label={`Revoke access of ${share.kind} ${share.name}`}
        onClick={() => report('Revoke', model.revokeShare(share.kind, share.name))}
      >
        Revoke
      </button>
    </li>
  );
}

function Collaborators(props: { model: SessionModel; sharing: ISharing | null }): JSX.Element {
  const { model, sharing } = props;
  if (model.sharingError) {
    return <p className="jp-SessionsPanel-note jp-mod-error">{model.sharingError}</p>;
  }
  if (sharing === null) {
    return <p className="jp-SessionsPanel-note">Loading…</p>;
  }
  return (
    <>
      {sharing.shares.length === 0 ? (
        <p className="jp-SessionsPanel-note jp-SessionsPanel-noShares">Nobody else has access.</p>
      ) : (
        <ul className="jp-SessionsPanel-list jp-SessionsPanel-shares">
          {sharing.shares.map(s => (
            <ShareRow key={`${s.kind}:${s.name}`} model={model} share={s} />
          ))}
        </ul>
      )}
      {sharing.links.length > 0 ? (
        <p className="jp-SessionsPanel-note jp-SessionsPanel-links">
          {sharing.links.length === 1 ? '1 share link is' : `${sharing.links.length} share links are`} still
          valid.{' '}
          <button
            className="jp-Button jp-mod-styled jp-mod-warn jp-SessionsPanel-revokeLinks"
            disabled={model.busy('revoke-links')}
            onClick={() => report('Revoking share links', model.revokeShareLinks())}
          >
            Revoke share links
          </button>
        </p>
      ) : null}
    </>
  );
}

/** Invite a hub user or a whole hub group by name (they sign in with their own account). */
function Invite(props: { model: SessionModel }): JSX.Element {
  const { model } = props;
  const [kind, setKind] = React.useState<'user' | 'group'>('user');
  const [name, setName] = React.useState('');
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const who = name.trim();
    if (!who) {
      return;
    }
    report(
      'Sharing',
      model.grantShare(kind, who).then(() => {
        setName('');
        Notification.success(`Shared with ${kind} ${who}`, { autoClose: 4000 });
      })
    );
  };
  return (
    <form className="jp-SessionsPanel-invite" onSubmit={submit}>
      <select
        className="jp-SessionsPanel-inviteKind"
        aria-label="Share with a user or a group"
        value={kind}
        onChange={e => setKind(e.currentTarget.value === 'group' ? 'group' : 'user')}
      >
        <option value="user">User</option>
        <option value="group">Group</option>
      </select>
      <input
        className="jp-SessionsPanel-inviteName"
        aria-label={kind === 'group' ? 'Group name' : 'User name'}
        placeholder={kind === 'group' ? 'hub group name' : 'hub user name'}
        maxLength={255}
        value={name}
        onChange={e => setName(e.currentTarget.value)}
      />
      <button
        type="submit"
        className="jp-Button jp-mod-styled jp-mod-accept jp-SessionsPanel-inviteButton"
        disabled={model.busy('grant') || !name.trim()}
      >
        Share
      </button>
    </form>
  );
}

function ShareSection(props: { model: SessionModel }): JSX.Element | null {
  const { model } = props;
  const state = model.state;
  if (!state?.info || !state.collaborative) {
    return null;
  }
  if (!state.is_owner) {
    return (
      <section className="jp-SessionsPanel-section jp-SessionsPanel-sharing">
        <h3>Share</h3>
        <p className="jp-SessionsPanel-note">Shared with you by {state.owner}.</p>
      </section>
    );
  }
  return (
    <section className="jp-SessionsPanel-section jp-SessionsPanel-sharing">
      <h3>Share</h3>
      <button
        className="jp-Button jp-mod-styled jp-mod-accept jp-SessionsPanel-createLink"
        disabled={model.busy('share')}
        onClick={() =>
          report(
            'Creating a share link',
            model.createShareLink().then(link => {
              const url = link && httpUrl(link.accept_url, window.location.origin);
              if (url) {
                Clipboard.copyToSystem(url.href);
                Notification.success('Share link copied to the clipboard', { autoClose: 4000 });
              }
            })
          )
        }
      >
        Create share link
      </button>
      {model.newLink ? <NewLink link={model.newLink} /> : null}
      <Invite model={model} />
      <h4>
        People with access{' '}
        <button
          className="jp-Button jp-mod-styled jp-mod-minimal jp-SessionsPanel-refreshShares"
          title="Look again for who has access"
          onClick={() => report('Listing shares', model.refreshSharing())}
        >
          Refresh
        </button>
      </h4>
      <Collaborators model={model} sharing={model.sharing} />
    </section>
  );
}

function PortRow(props: { port: IPort; baseUrl: string }): JSX.Element {
  const { port, baseUrl } = props;
  const href = proxyLink(port.port, port.proxy_url, baseUrl, window.location.origin);
  return (
    <li className="jp-SessionsPanel-port">
      <a href={href} target="_blank" rel="noopener noreferrer" title={`Open port ${port.port} in a new tab`}>
        {port.port}
      </a>
      {port.process ? <span className="jp-SessionsPanel-hint"> {port.process}</span> : null}
    </li>
  );
}

function PortsSection(props: { model: SessionModel }): JSX.Element | null {
  const { model } = props;
  if (!model.state?.info) {
    return null;
  }
  const ports = model.ports;
  return (
    <section className="jp-SessionsPanel-section jp-SessionsPanel-ports">
      <h3>
        Ports{' '}
        <button
          className="jp-Button jp-mod-styled jp-mod-minimal jp-SessionsPanel-refreshPorts"
          title="Look for listening ports again"
          onClick={() => report('Listing ports', model.refreshPorts())}
        >
          Refresh
        </button>
      </h3>
      {model.portsError ? (
        <p className="jp-SessionsPanel-note jp-mod-error">{model.portsError}</p>
      ) : ports === null ? (
        <p className="jp-SessionsPanel-note">Loading…</p>
      ) : ports.length === 0 ? (
        <p className="jp-SessionsPanel-note">No web server is listening in this session.</p>
      ) : (
        <ul className="jp-SessionsPanel-list">
          {ports.map(p => (
            <PortRow key={p.port} port={p} baseUrl={model.api.baseUrl} />
          ))}
        </ul>
      )}
    </section>
  );
}

export class SessionPanel extends ReactWidget {
  constructor(private readonly model: SessionModel) {
    super();
    this.id = 'jupyterhub-sessions-panel';
    this.addClass('jp-SessionsPanel');
    this.title.icon = sessionIcon;
    this.title.caption = 'Session';
  }

  /** Lists that can change without us knowing are re-read when the panel shows. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.reload();
  }

  reload(): void {
    report('Listing ports', this.model.refreshPorts());
    if (this.model.state?.collaborative && this.model.state.is_owner) {
      report('Listing shares', this.model.refreshSharing());
    }
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => (
          <div className="jp-SessionsPanel-body">
            <h2>Session</h2>
            <SessionSection model={this.model} />
            <ShareSection model={this.model} />
            <PortsSection model={this.model} />
          </div>
        )}
      </UseSignal>
    );
  }
}
