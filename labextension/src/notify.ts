/**
 * Visible warnings before the session ends, once per threshold and expiry.
 */
import { Notification } from '@jupyterlab/apputils';

import { ExpiryWarner } from './core/warning';
import { describeReason, formatDuration } from './core/time';
import { messageOf, SessionModel } from './model';

export function watchExpiry(model: SessionModel, warner = new ExpiryWarner()): void {
  let shown: string | null = null;
  model.ticked.connect((_, left) => {
    const timing = model.state?.timing ?? null;
    const threshold = warner.check(timing?.expires_at ?? null, left);
    if (threshold === null || timing === null || left === null) {
      return;
    }
    if (shown !== null) {
      Notification.dismiss(shown);
    }
    const canRenew = timing.renewable && model.state?.is_owner && timing.expiry_reason === 'max_age';
    const hint =
      timing.expiry_reason === 'idle'
        ? ' unless it is used'
        : canRenew
          ? '. Renew it to keep working'
          : '';
    const reason = describeReason(timing.expiry_reason);
    shown = Notification.warning(
      `This session will be stopped in ${formatDuration(left)}${reason ? ` (${reason})` : ''}${hint}. Your drive is kept.`,
      {
        autoClose: false,
        actions: canRenew
          ? [
              {
                label: 'Renew',
                callback: () => {
                  model.renew().catch(err => Notification.error(`Renew failed: ${messageOf(err)}`));
                }
              }
            ]
          : []
      }
    );
  });
}
