/** Waiting in tests for something another connection or process does. */
import { sleep } from '../../src/pg/backoff.js';

export { sleep };

/** Waits until `holds` does, polling every 20 ms; fails (rather than hangs) after `timeoutMs`. */
export async function until(
  what: string,
  holds: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  for (let waited = 0; waited < timeoutMs; waited += 20) {
    if (await holds()) return;
    await sleep(20);
  }
  throw new Error(`never happened: ${what}`);
}
