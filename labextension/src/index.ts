/**
 * jupyterhub-sessions front end: a status-bar item, a side panel and expiry
 * warnings for the session this JupyterLab / Notebook runs in.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';

import { SessionsApi } from './api';
import { SessionModel } from './model';
import { watchExpiry } from './notify';
import { SessionPanel } from './widgets/panel';
import { SessionStatus } from './widgets/status';

const OPEN_COMMAND = 'jupyterhub-sessions:open';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterhub-sessions:plugin',
  description: 'Session time left, Renew, Share and Ports for jupyterhub-sessions.',
  autoStart: true,
  optional: [IStatusBar, ICommandPalette],
  activate: async (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ): Promise<void> => {
    const model = new SessionModel(new SessionsApi(app.serviceManager.serverSettings));
    await model.start();
    if (!model.active) {
      // Not a managed session (e.g. a plain `jupyter lab`): show nothing.
      model.dispose();
      return;
    }

    const panel = new SessionPanel(model);
    app.shell.add(panel, 'left', { rank: 950 });
    if (panel.isVisible) {
      panel.reload();
    }

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Show Session Panel',
      execute: () => app.shell.activateById(panel.id)
    });
    palette?.addItem({ command: OPEN_COMMAND, category: 'Session' });

    const status = new SessionStatus(model, () => void app.commands.execute(OPEN_COMMAND));
    if (statusBar) {
      statusBar.registerStatusItem('jupyterhub-sessions:status', {
        item: status,
        align: 'left',
        rank: 10,
        isActive: () => model.active
      });
    } else {
      // Notebook 7 has no status bar: show the countdown in its header instead.
      status.id = 'jupyterhub-sessions-status';
      app.shell.add(status, 'top', { rank: 1000 });
    }

    watchExpiry(model);
  }
};

export default plugin;
