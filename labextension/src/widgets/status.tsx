/**
 * The status-bar item: session type and live time left; a click opens the panel.
 */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';

import { statusLine } from '../core/status';
import { SessionModel } from '../model';

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
              const { text, title, warn } = statusLine(this.model.state, this.model.secondsLeft());
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
