import { describe, expect, it } from 'vitest';
import { WatchHistory } from '../../src/dashboard/history.js';
import type { BackfillRecord, WatchSnapshot } from '../../src/index.js';
import { backfillStatus } from '../../src/lifecycle/status.js';

/** A snapshot at second `t` of a migration whose one table has `rows` done. */
function snapshot(
  t: number,
  { rows = 0, done = false, verified = 0, throttle = null as string | null, rollbacks = 0 } = {},
): WatchSnapshot {
  const backfill = backfillStatus(
    {
      table: 'items',
      rowsDone: rows,
      rowsTotal: 10_000,
      done,
      rowsVerified: verified,
      verified: false,
      throttle,
    } as BackfillRecord,
    'starting',
  );
  return {
    at: new Date(t * 1000).toISOString(),
    status: { active: { name: 'm1', phase: 'starting', backfills: [backfill] } },
    steps: [],
    events: [],
    health: {
      counters: { commits: 0, rollbacks, deadlocks: 0 },
      walBytes: t * 1_000_000,
      lockWaits: [
        { pid: 1, applicationName: 'app', waitingSeconds: 1, query: '', own: false, blockedBy: [] },
        {
          pid: 2,
          applicationName: 'tidal',
          waitingSeconds: 1,
          query: '',
          own: true,
          blockedBy: [],
        },
      ],
      longestTransaction: null,
      replicaLagMs: null,
    },
  } as unknown as WatchSnapshot;
}

describe('WatchHistory', () => {
  it('takes rates between snapshots over a window, not from one reading to the next', () => {
    const history = new WatchHistory();
    expect(history.add(snapshot(0, { rows: 0, rollbacks: 10 })).rowsPerSecond.items).toBe(0);
    history.add(snapshot(1, { rows: 0, rollbacks: 10 }));
    // A batch of 2000 rows lands at once: over the window it reads as 1000 rows/s.
    const sample = history.add(snapshot(2, { rows: 2000, rollbacks: 30 }));
    expect(sample.rowsPerSecond.items).toBe(1000);
    expect(sample.rollbacksPerSecond).toBe(10);
    expect(sample.walBytesPerSecond).toBe(1_000_000);
    // Only the application's waiters count, not tidal's own sessions.
    expect(sample.lockWaiters).toBe(1);
    expect(history.samples).toHaveLength(3);
  });

  it('counts the verification pass as a series of its own, from its own rows', () => {
    const history = new WatchHistory();
    history.add(snapshot(0, { rows: 9000 }));
    history.add(snapshot(1, { rows: 10_000, done: true, verified: 0 }));
    const sample = history.add(snapshot(2, { rows: 10_000, done: true, verified: 4000 }));
    expect(sample.rowsPerSecond.items).toBe(4000);
  });

  it('notes when the backfill starts and stops waiting, and when it has filled every row', () => {
    const history = new WatchHistory();
    history.add(snapshot(0, { rows: 10 }));
    history.add(snapshot(1, { rows: 20, throttle: 'rate 100 rows/s' }));
    history.add(snapshot(2, { rows: 20, throttle: 'paused' }));
    history.add(snapshot(3, { rows: 30 }));
    history.add(snapshot(4, { rows: 10_000, done: true }));
    expect(history.changes.map((c) => c.message)).toEqual([
      'backfill of "items" filled every row',
      'backfill of "items" goes on',
      'backfill of "items" waits: paused',
    ]);
  });
});
