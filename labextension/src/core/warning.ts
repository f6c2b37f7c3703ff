/**
 * When to warn that a session is about to end. Each threshold (seconds left)
 * is announced once per expiry: a renewal or new activity that moves the
 * expiry re-arms the warnings.
 */

/** Default thresholds: 10 minutes, then 1 minute. */
export const DEFAULT_THRESHOLDS: readonly number[] = [600, 60];

export class ExpiryWarner {
  private readonly thresholds: number[];
  private key: string | null = null;
  private announced = new Set<number>();

  constructor(thresholds: readonly number[] = DEFAULT_THRESHOLDS) {
    if (thresholds.some(t => !Number.isFinite(t) || t <= 0)) {
      throw new Error('warning thresholds must be positive numbers of seconds');
    }
    // Largest first, so a late first look only announces the most urgent one.
    this.thresholds = [...thresholds].sort((a, b) => b - a);
  }

  /**
   * The threshold to announce now, or null. `expiryKey` identifies the
   * current expiry (e.g. its timestamp); `left` is seconds left or null.
   */
  check(expiryKey: string | null, left: number | null): number | null {
    if (expiryKey !== this.key) {
      this.key = expiryKey;
      this.announced.clear();
    }
    if (expiryKey === null || left === null) {
      return null;
    }
    const crossed = this.thresholds.filter(t => left <= t);
    if (crossed.length === 0) {
      return null;
    }
    // The smallest crossed threshold is the most urgent; earlier ones are now moot.
    const most = crossed[crossed.length - 1];
    if (this.announced.has(most)) {
      return null;
    }
    crossed.forEach(t => this.announced.add(t));
    return most;
  }
}
