import type pg from 'pg';
import { sessionRoom } from '../catalog/activity.js';
import { messageOf } from '../errors.js';
import type { OpenConnection } from '../executor/blockers.js';
import type { SegmentState } from './checkpoint.js';

/** How many workers may be asked for: each holds a connection. */
export const MAX_BACKFILL_WORKERS = 32;
/** How many workers `auto` runs at most. */
export const MAX_AUTO_WORKERS = 4;
/** Below this many rows `auto` runs one worker: the pass takes seconds, and more connections
 *  would cost the server more than they save. */
const AUTO_MIN_ROWS = 1_000_000;
/** Rows a segment holds at most when the table is large: several segments per worker, so
 *  that workers finish close together. */
const SEGMENT_ROWS = 250_000;
/** A pass is split into at most this many segments (each a row of the checkpoint). */
const MAX_SEGMENTS = 64;
/** Each worker gets about this many segments to take, at least. */
const SEGMENTS_PER_WORKER = 4;

/** How many workers fill or verify a table at once: a number, or `auto` (decided from the
 *  table's size and the room the server has). */
export type BackfillWorkers = number | 'auto';

/**
 * The workers a pass asks for. `auto` runs one on a table under a million rows, else as many
 * as the server lets one query use (1 + max_parallel_workers_per_gather, 3 by default), at most
 * four, and never more than a quarter of the connections left free.
 */
export async function workersFor(
  client: pg.Client,
  requested: BackfillWorkers,
  rowsEstimate: number,
): Promise<number> {
  if (requested !== 'auto') return Math.max(1, Math.floor(requested));
  if (rowsEstimate < AUTO_MIN_ROWS) return 1;
  const room = await sessionRoom(client);
  return Math.max(
    1,
    Math.min(MAX_AUTO_WORKERS, room.processesPerQuery, Math.floor(room.connectionsFree / 4)),
  );
}

/** How many segments a pass is split into the first time it begins: enough for every worker
 *  to take several, and about one per 250,000 rows of a large table. */
export function segmentCount(rowsEstimate: number, workers: number): number {
  const bySize = Math.ceil(rowsEstimate / SEGMENT_ROWS);
  const byWorkers = workers > 1 ? workers * SEGMENTS_PER_WORKER : 1;
  return Math.max(1, Math.min(MAX_SEGMENTS, Math.max(bySize, byWorkers)));
}

/**
 * The connections a backfill's workers run on: the command's own for one worker; else one of
 * their own each, opened when a pass first needs them and kept for the next, as many as could
 * be opened (at least one).
 */
export class WorkerConnections {
  private readonly opened: pg.Client[] = [];
  /** Set once opening one failed: no more are tried. */
  private full = false;

  constructor(
    private readonly client: pg.Client,
    private readonly open: OpenConnection | undefined,
    private readonly onNotice?: (message: string) => void,
  ) {}

  async take(count: number): Promise<pg.Client[]> {
    if (count <= 1 || !this.open) return [this.client];
    while (this.opened.length < count && !this.full) {
      try {
        this.opened.push(await this.open());
      } catch (error) {
        if (this.opened.length === 0) throw error;
        this.full = true;
        this.onNotice?.(
          `backfill runs ${this.opened.length} of ${count} workers: no connection for more (${messageOf(error)})`,
        );
      }
    }
    return this.opened.slice(0, count);
  }

  async close(): Promise<void> {
    await Promise.all(this.opened.map((c) => c.end().catch(() => {})));
    this.opened.length = 0;
  }
}

/**
 * Runs `walk` for every unfinished segment, each taken by the next free worker, in order, so
 * that one worker walks the table from start to end. The first failure stops the others after
 * their current batch (`stopped` tells them) and is what this throws.
 */
export async function walkSegments(
  clients: pg.Client[],
  segments: SegmentState[],
  walk: (client: pg.Client, segment: SegmentState, stopped: () => boolean) => Promise<void>,
): Promise<void> {
  const queue = segments.filter((s) => !s.done);
  let failure: { error: unknown } | undefined;
  const stopped = () => failure !== undefined;
  const worker = async (client: pg.Client) => {
    for (let segment = queue.shift(); segment && !stopped(); segment = queue.shift()) {
      try {
        await walk(client, segment, stopped);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(clients.map(worker));
  if (failure) throw failure.error;
}
