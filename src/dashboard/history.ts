/**
 * The dashboard's memory: each snapshot turned into one sample of rates (rows/s per table,
 * rollbacks, deadlocks, WAL) taken between consecutive snapshots, the last ten minutes of them
 * kept for the charts, and the changes worth a line in the event log (phase, throttle).
 */
import { CounterRate } from '../backfill/throttle.js';
import type { WatchSnapshot } from '../tidal.js';

/** One point of the charts. */
export interface Sample {
  /** Milliseconds since the epoch. */
  at: number;
  /** Rows per second per table, of the pass running (fill, then verify). */
  rowsPerSecond: Record<string, number>;
  rollbacksPerSecond: number;
  deadlocksPerMinute: number;
  walBytesPerSecond: number;
  lockWaiters: number;
  replicaLagMs: number | null;
  longestTransactionSeconds: number;
}

/** A change the dashboard saw between two snapshots. */
export interface ObservedChange {
  at: string;
  message: string;
}

/** Samples kept: ten minutes at one a second. */
const KEPT_SAMPLES = 600;
const KEPT_CHANGES = 100;

/** Rates are taken over this long: batches commit their rows in steps, and one reading's
 *  difference from the last would draw the steps, not the rate. */
const RATE_WINDOW_MS = 5000;

export class WatchHistory {
  readonly samples: Sample[] = [];
  readonly changes: ObservedChange[] = [];
  private last: WatchSnapshot | undefined;
  private readonly rates = new Map<string, CounterRate>();

  /** Adds a snapshot; the sample it makes (rates are 0 for the first). */
  add(snapshot: WatchSnapshot): Sample {
    const at = Date.parse(snapshot.at);
    const perSecond = (series: string, count: number) => {
      let rate = this.rates.get(series);
      if (!rate) {
        rate = new CounterRate(RATE_WINDOW_MS);
        this.rates.set(series, rate);
      }
      return rate.add(count, at);
    };
    const { health } = snapshot;
    const sample: Sample = {
      at,
      rowsPerSecond: Object.fromEntries(
        (snapshot.status.active?.backfills ?? []).map(({ table, standing }) => {
          // The verification pass counts its rows from 0 again: a series of its own.
          const pass = standing.running ?? 'done';
          const series = `${snapshot.status.active?.name}:${table}:${pass}`;
          return [table, perSecond(series, standing.rows)];
        }),
      ),
      rollbacksPerSecond: perSecond('rollbacks', health.counters.rollbacks),
      deadlocksPerMinute: 60 * perSecond('deadlocks', health.counters.deadlocks),
      walBytesPerSecond: perSecond('wal', health.walBytes),
      lockWaiters: health.lockWaits.filter((w) => !w.own).length,
      replicaLagMs: health.replicaLagMs,
      longestTransactionSeconds: health.longestTransaction?.seconds ?? 0,
    };
    if (this.last) this.noteChanges(this.last, snapshot);
    this.last = snapshot;
    this.samples.push(sample);
    if (this.samples.length > KEPT_SAMPLES) this.samples.shift();
    return sample;
  }

  private noteChanges(before: WatchSnapshot, now: WatchSnapshot): void {
    const note = (message: string) => {
      this.changes.unshift({ at: now.at, message });
      if (this.changes.length > KEPT_CHANGES) this.changes.pop();
    };
    const was = before.status.active;
    const is = now.status.active;
    if (was?.name !== is?.name || was?.phase !== is?.phase) {
      note(is ? `migration "${is.name}" is ${is.phase}` : 'no migration is active');
    }
    for (const b of is?.backfills ?? []) {
      const old = was?.backfills.find((p) => p.table === b.table);
      const throttle = b.throttle && !b.throttle.startsWith('rate ') ? b.throttle : null;
      const oldThrottle = old?.throttle && !old.throttle.startsWith('rate ') ? old.throttle : null;
      if (throttle && !oldThrottle) note(`backfill of "${b.table}" waits: ${throttle}`);
      if (!throttle && oldThrottle) note(`backfill of "${b.table}" goes on`);
      if (b.done && old && !old.done) note(`backfill of "${b.table}" filled every row`);
    }
  }
}
