import type pg from 'pg';
import { OperationError } from '../errors.js';
import { describeBlocker, type OpenConnection, WaitWatch } from '../executor/blockers.js';
import { backoffDelay, sleep } from '../pg/backoff.js';
import { ident } from '../pg/quote.js';
import type { BatchSizer } from './batch-size.js';
import type { BackfillGate } from './gate.js';

/** Lock timeouts and deadlocks a batch may hit in a row before the backfill gives up. */
const MAX_RETRIES = 50;

const RETRYABLE = new Set(['55P03', '40P01', '40001']);

export interface BatchLoop {
  client: pg.Client;
  /** The application schema: `up` expressions resolve unqualified names in it. */
  schema: string;
  table: string;
  /** Pause, throttle signals and the rows per second ceiling, shared by all workers. */
  gate: BackfillGate;
  /** How many workers share the ceiling: a batch takes at most a second of its share. */
  workers: number;
  sizer: BatchSizer;
  lockTimeoutMs: number;
  /** A second connection to watch a waiting batch from, to name who holds its rows. */
  openObserver?: OpenConnection;
  /** Whether batches run with `session_replication_role = replica` (no user triggers). */
  quiet: boolean;
  /** The batch waits for rows the application holds, and by whom; `recorded` is what the
   *  state schema keeps for `tidal status`. */
  onWait(reason: string, recorded: string): Promise<void>;
  /** One batch of about `rows` rows, inside its transaction; says whether the walk is over. */
  batch(rows: number, throttle: string | null): Promise<{ seen: number; finished: boolean }>;
  /** After each committed batch. */
  onBatch(seen: number, ms: number, finished: boolean, throttle: string | null): void;
  /** Whether another worker failed: the loop stops before its next batch. */
  stopped?: () => boolean;
}

/**
 * Runs batches until the walk is over, each in a short transaction of its own, passing the
 * gate (pause, rate, throttle signals) before each and retrying batches that wait on the
 * application's row locks, naming the transaction that holds them. Shared by the fill and the
 * verification pass; each worker runs one at a time.
 */
export async function runBatches(loop: BatchLoop): Promise<void> {
  const watch = new WaitWatch(
    loop.client,
    // A row lock is held by a transaction id, and a session holding one locks the table too.
    { table: { schema: loop.schema, name: loop.table }, holds: 'transactionId' },
    loop.lockTimeoutMs,
    loop.openObserver,
  );
  try {
    await runBatchesWith(loop, watch);
  } finally {
    await watch.close();
  }
}

async function runBatchesWith(loop: BatchLoop, watch: WaitWatch): Promise<void> {
  const { client, sizer, gate } = loop;
  for (let attempt = 0; !loop.stopped?.(); ) {
    const rate = await gate.admit();
    // Under a ceiling, a batch is at most a second's worth of this worker's share, so a rate
    // change is obeyed within about a second.
    const rows = rate ? sizer.cap(rate / loop.workers) : sizer.next;
    const throttle = rate ? `rate ${rate} rows/s` : null;
    await gate.pace(rows, rate);
    const started = Date.now();
    let result: { seen: number; finished: boolean };
    try {
      result = await watch.attempt(() => batchTransaction(loop, rows, throttle));
      if (attempt > 0) await watch.close(); // the wait is over
      attempt = 0;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      if (error instanceof OperationError) throw error;
      const code = (error as { code?: string }).code;
      if (code && RETRYABLE.has(code) && attempt < MAX_RETRIES) {
        const [holder] = await watch.blockers(error);
        const waiting = holder
          ? `waiting for rows locked by ${describeBlocker(holder)}`
          : 'waiting for rows locked by the application';
        await loop.onWait(waiting, waiting);
        await sleep(backoffDelay(attempt++));
        continue;
      }
      throw new OperationError(`backfill of "${loop.table}" failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const spent = Date.now() - started;
    sizer.record(result.seen, spent);
    loop.onBatch(result.seen, spent, result.finished, throttle);
    if (result.finished) return;
  }
}

/** One batch in its own transaction. */
async function batchTransaction(
  loop: BatchLoop,
  rows: number,
  throttle: string | null,
): Promise<{ seen: number; finished: boolean }> {
  const { client } = loop;
  await client.query('BEGIN');
  // One round trip for the batch's settings. The dual-write trigger leaves a batch's rows
  // alone (`tidal.backfill`): the batch writes the new columns itself. A batch commits
  // without waiting for its WAL flush: a crash can undo only whole batches together with
  // their checkpoint, which the resumed backfill then does again. No JIT: a batch's range
  // ends at a key only known as it runs, so the planner costs it as a third of a large table
  // and compiles it, which takes longer than the batch (180 ms per batch at 20M rows).
  await client.query(
    `SELECT set_config('lock_timeout', $1, true), set_config('tidal.backfill', 'on', true),
            set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true),
            set_config('search_path', $2, true)${loop.quiet ? `, set_config('session_replication_role', 'replica', true)` : ''}`,
    [String(loop.lockTimeoutMs), `${ident(loop.schema)}, pg_catalog`],
  );
  const result = await loop.batch(rows, throttle);
  await client.query('COMMIT');
  return result;
}

/**
 * Whether this session may set `session_replication_role = replica` for its batches, so that
 * the application's triggers (an `updated_at` stamp, an audit log) do not fire for rows the
 * backfill only gives a new column. Foreign key triggers are skipped too, which is safe here:
 * the backfill changes no key the application set, and tidal's own new foreign keys are
 * validated after the backfill.
 */
export async function canSilenceTriggers(client: pg.Client): Promise<boolean> {
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    return true;
  } catch {
    return false;
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}
