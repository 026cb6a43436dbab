/** Jittered exponential backoff between lock attempts: the n-th wait is about base * 2^n,
 *  capped, and spread by ±50% so several waiting clients do not retry in lock-step. */
export function backoffDelay(attempt: number, baseMs = 100, capMs = 5_000): number {
  const exponential = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(exponential * (0.5 + Math.random()));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
