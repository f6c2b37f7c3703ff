import { LabIcon } from '@jupyterlab/ui-components';

// An hourglass: the panel is about how long the session lasts.
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" d="M6 2h12v6l-4 4 4 4v6H6v-6l4-4-4-4V2zm10 14.5-4-4-4 4V20h8v-3.5zm-4-5 4-4V4H8v3.5l4 4z"/>
</svg>`;

export const sessionIcon = new LabIcon({ name: 'jupyterhub-sessions:session', svgstr: svg });
