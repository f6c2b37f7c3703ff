/**
 * The status-bar item: session type and live time left; a click opens the panel.
 */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';

import { describeReason, formatDuration } from '../core/time';
import { SessionModel } from '../model';

function label(model: SessionModel, left: number | null): { text: string; title: string; warn: boolean } {
  const state = model.state;
  const info = state?.info;
  if (!info) {
    return { text: '', title: '', warn: false };
  }
  const timing = state?.timing ?? null;
  if (timing === null) {
    return {
      text: `${info.display_name} · time left unknown`,
      title: state?.timing_error ?? 'The hub did not say when this session ends',
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
    warn: left <= 600
  };
}

export class SessionStatus extends ReactWidget {
  constructor(
    private readonly model: SessionModel,
    private readonly onOpen: () => void
  ) {
    super();
    this.addClass('jp-SessionsStatus');
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => (
          <UseSignal signal={this.model.ticked}>
            {() => {
              const { text, title, warn } = label(this.model, this.model.secondsLeft());
              return (
                <span
                  className={`jp-SessionsStatus-text${warn ? ' jp-mod-warn' : ''}`}
                  title={title}
                  role="button"
                  onClick={this.onOpen}
                >
                  {text}
                </span>
              );
            }}
          </UseSignal>
        )}
      </UseSignal>
    );
  }
}
