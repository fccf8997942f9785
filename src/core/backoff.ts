/**
 * Capped exponential backoff with jitter: attempt 0 waits about `intervalMs`, each further attempt
 * doubles it up to `intervalMsMax`, and the result is scaled by a factor in [0.5, 1) drawn from
 * `random` so that many nodes retrying together spread out ("equal jitter", AWS Architecture Blog 2015).
 *
 * @param attempt - 0 for the first retry
 * @param random - injected source in [0, 1); the core never calls `Math.random`
 * @returns a whole number of milliseconds, at least 1
 */
export function backoffDelayMs(
  attempt: number,
  intervalMs: number,
  intervalMsMax: number,
  random: () => number,
): number {
  const base = Math.min(intervalMsMax, intervalMs * 2 ** Math.min(attempt, 30))
  return Math.max(1, Math.round(base * (0.5 + random() / 2)))
}
