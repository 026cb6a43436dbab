/** `tidal status` in words: each backfill's pass, rows and state. */
import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/render.js';
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

describe('status of a backfill', () => {
  it('while filling: rows filled of the total, rows/s and what holds it', () => {
    expect(line(status('starting', { throttle: 'replica lag 12000 ms over 10000 ms' }))).toBe(
      '  backfill items: 400/1000 rows (40.0%), 250 rows/s, replica lag 12000 ms over 10000 ms, updated 2026-11-26 10:01:00+00',
    );
  });

  it('with several workers: how many, beside the rows/s they make together', () => {
    expect(line(status('starting', { workers: 3 }))).toBe(
      '  backfill items: 400/1000 rows (40.0%), 250 rows/s (3 workers), updated 2026-11-26 10:01:00+00',
    );
  });

  it('while verifying: rows verified of the rows filled', () => {
    expect(line(status('starting', { done: true, rowsDone: 1000, rowsVerified: 250 }))).toBe(
      '  verify items: 250/1000 rows (25.0%), filled, verifying, 250 rows/s, updated 2026-11-26 10:01:00+00',
    );
  });

  it('once start finished: verified, or that verification was skipped', () => {
    const done = { done: true, rowsDone: 1000, rowsVerified: 1000 };
    expect(line(status('active', { ...done, verified: true }))).toBe(
      '  backfill items: 1000/1000 rows (100.0%), filled and verified, updated 2026-11-26 10:01:00+00',
    );
    expect(line(status('active', { ...done, rowsVerified: 0 }))).toBe(
      '  backfill items: 1000/1000 rows (100.0%), filled (verification skipped), updated 2026-11-26 10:01:00+00',
    );
  });
});
