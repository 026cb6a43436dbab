/** `tidal status` in words: each backfill's pass, rows, ETA and state, and what is applied. */
import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/render.js';
import { backfillStatus } from '../../src/lifecycle/status.js';
import type { BackfillRecord } from '../../src/state/store.js';
import type { MigrationStatus } from '../../src/tidal.js';

const NO_SESSIONS = {
  count: 0,
  applications: [],
  clientAddresses: [],
  oldestSince: null,
  sessions: [],
};

function status(phase: 'starting' | 'active', backfill: Partial<BackfillRecord>): MigrationStatus {
  return {
    schema: 'public',
    active: {
      name: 'm1',
      versionSchema: 'public_m1',
      phase,
      startedAt: '2026-11-26 10:00:00+00',
      lastError: null,
      asOneWith: [],
      backfills: [
        backfillStatus(
          {
            table: 'items',
            rowsDone: 400,
            rowsTotal: 1000,
            done: false,
            updatedAt: '2026-11-26 10:01:00+00',
            batchSize: 100,
            rowsPerSecond: 250,
            throttle: null,
            rowsVerified: 0,
            verified: false,
            workers: null,
            ...backfill,
          },
          phase,
        ),
      ],
      drift: [],
    },
    latest: null,
    applied: 0,
    baseline: null,
    leftovers: [],
    sessions: { versions: [], untagged: NO_SESSIONS },
  };
}

const line = (s: MigrationStatus) => renderStatus(s).split('\n')[2];

const backfillOf = (s: MigrationStatus) => s.active?.backfills[0];

describe('status of a backfill', () => {
  it('while filling: rows filled of the total, rows/s, ETA and what holds it', () => {
    const filling = status('starting', { throttle: 'replica lag 12000 ms over 10000 ms' });
    // 600 rows left at 250 rows/s.
    expect(backfillOf(filling)?.etaSeconds).toBe(3);
    expect(line(filling)).toBe(
      '  backfill items: 400/1000 rows (40.0%), 250 rows/s, ETA 3s, replica lag 12000 ms over 10000 ms, updated 2026-11-26 10:01:00+00',
    );
  });

  it('with several workers: how many, beside the rows/s they make together', () => {
    expect(line(status('starting', { workers: 3 }))).toBe(
      '  backfill items: 400/1000 rows (40.0%), 250 rows/s (3 workers), ETA 3s, updated 2026-11-26 10:01:00+00',
    );
  });

  it('before a batch gave a rate: no ETA', () => {
    const first = status('starting', { rowsDone: 0, rowsPerSecond: null });
    expect(backfillOf(first)?.etaSeconds).toBeNull();
    expect(line(first)).toBe(
      '  backfill items: 0/1000 rows (0.0%), updated 2026-11-26 10:01:00+00',
    );
  });

  it('an ETA of minutes and hours, from the rows left at the last rate', () => {
    const slow = status('starting', { rowsDone: 1000, rowsTotal: 1_000_000, rowsPerSecond: 100 });
    expect(backfillOf(slow)?.etaSeconds).toBe(9990);
    expect(line(slow)).toContain(', 100 rows/s, ETA 2h46m, updated');
  });

  it('while verifying: rows verified of the rows filled, and the ETA of the verification', () => {
    const verifying = status('starting', { done: true, rowsDone: 1000, rowsVerified: 250 });
    expect(backfillOf(verifying)?.etaSeconds).toBe(3);
    expect(line(verifying)).toBe(
      '  verify items: 250/1000 rows (25.0%), filled, verifying, 250 rows/s, ETA 3s, updated 2026-11-26 10:01:00+00',
    );
  });

  it('once start finished: verified, or that verification was skipped; no ETA', () => {
    const done = { done: true, rowsDone: 1000, rowsVerified: 1000 };
    const verified = status('active', { ...done, verified: true });
    expect(backfillOf(verified)?.etaSeconds).toBeNull();
    expect(line(verified)).toBe(
      '  backfill items: 1000/1000 rows (100.0%), filled and verified, updated 2026-11-26 10:01:00+00',
    );
    expect(line(status('active', { ...done, rowsVerified: 0 }))).toBe(
      '  backfill items: 1000/1000 rows (100.0%), filled (verification skipped), updated 2026-11-26 10:01:00+00',
    );
  });

  it('once filled, the total is the rows the fill counted, not the estimate it began from', () => {
    // The verification raised rows_total past the rows filled (rows inserted meanwhile).
    const done = { done: true, rowsDone: 200_144, rowsTotal: 200_233, rowsVerified: 200_233 };
    expect(line(status('active', { ...done, verified: true }))).toBe(
      '  backfill items: 200144/200144 rows (100.0%), filled and verified, updated 2026-11-26 10:01:00+00',
    );
  });
});

describe('what is applied and what is active', () => {
  const appliedLine = (s: MigrationStatus) =>
    renderStatus(s)
      .split('\n')
      .find((l) => l.startsWith('applied: '));

  it('an active migration is named apart from the files completed, which it is not yet', () => {
    expect(appliedLine(status('starting', {}))).toBe(
      'applied: no migration file completed yet; active, counted once completed: m1 (starting)',
    );
  });

  it('a whole started as one: how many files it holds beside its last', () => {
    const whole = status('active', { done: true, verified: true });
    if (!whole.active) throw new Error('no active migration');
    whole.active.asOneWith = ['01_a', '02_b'];
    whole.applied = 3;
    expect(appliedLine(whole)).toBe(
      'applied: 3 migration files completed; active, counted once completed: m1 and the 2 files started as one with it (active)',
    );
  });

  it('with none active', () => {
    expect(appliedLine({ ...status('active', {}), active: null, applied: 1 })).toBe(
      'applied: 1 migration file completed; none active',
    );
  });
});
