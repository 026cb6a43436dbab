/** What commands print as they run: the progress lines without a terminal, every
 *  --progress-interval, and the time on every --json event. Events are driven on a clock the
 *  test sets. */
import { describe, expect, it } from 'vitest';
import type { BackfillProgress } from '../../src/backfill/run.js';
import { eventRenderer, type Output, type RenderTarget } from '../../src/cli/render.js';
import type { TidalEvent } from '../../src/tidal.js';

/** A renderer writing into arrays, on a clock at `ms` milliseconds. */
function rendered(output: Output, terminal = false) {
  const written = { stdout: [] as string[], stderr: [] as string[] };
  const clock = { ms: Date.parse('2026-11-26T10:00:00.000Z') };
  const target: RenderTarget = {
    stdout: (text) => written.stdout.push(text),
    stderr: (text) => written.stderr.push(text),
    terminal,
    now: () => new Date(clock.ms),
  };
  const render = eventRenderer(output, target);
  /** Renders `event` `afterMs` after the one before. */
  const at = (afterMs: number, event: TidalEvent) => {
    clock.ms += afterMs;
    render(event);
  };
  return { written, at };
}

function fill(rowsDone: number, extra: Partial<BackfillProgress> = {}): TidalEvent {
  return {
    type: 'backfill',
    table: 'items',
    pass: 'fill',
    rowsDone,
    rowsTotal: 10_000,
    rowsPerSecond: 500,
    done: false,
    batchSize: 1000,
    lastBatchMs: 100,
    throttle: null,
    workers: 1,
    signals: [],
    ...extra,
  };
}

const HUMAN: Output = { json: false, verbose: false, progressIntervalMs: 10_000 };

describe('progress without a terminal', () => {
  it('prints a plain line per interval, each with rows, percent, rows/s and ETA, then the done line', () => {
    const { written, at } = rendered(HUMAN);
    // A batch a second: the interval starts at the first report.
    for (let second = 0; second <= 25; second++) at(second === 0 ? 0 : 1000, fill(second * 200));
    at(1000, fill(5400, { done: true, rowsTotal: 5400 }));
    expect(written.stderr).toEqual([
      '  backfill items: 2000/10000 rows (20.0%), 500 rows/s, ETA 16s\n',
      '  backfill items: 4000/10000 rows (40.0%), 500 rows/s, ETA 12s\n',
      '  backfill items: 5400/5400 rows (100.0%), 500 rows/s, done\n',
    ]);
    expect(written.stdout).toEqual([]);
  });

  it('says what holds the backfill; its waiting reports keep the lines coming', () => {
    const { written, at } = rendered(HUMAN);
    at(0, fill(1000));
    const paused = { throttle: 'paused (tidal backfill resume continues)', rowsPerSecond: 50 };
    for (let i = 0; i < 20; i++) at(1000, fill(1000, paused));
    expect(written.stderr).toEqual([
      '  backfill items: 1000/10000 rows (10.0%), 50 rows/s, ETA 3m0s (paused (tidal backfill resume continues))\n',
      '  backfill items: 1000/10000 rows (10.0%), 50 rows/s, ETA 3m0s (paused (tidal backfill resume continues))\n',
    ]);
  });

  it('times each pass over each table apart', () => {
    const { written, at } = rendered(HUMAN);
    at(0, fill(0));
    at(5000, fill(0, { table: 'orders' }));
    at(5000, fill(5000));
    at(0, fill(5000, { table: 'orders' }));
    at(5000, fill(8000, { table: 'orders' }));
    at(0, fill(5000, { pass: 'verify' }));
    expect(written.stderr).toEqual([
      '  backfill items: 5000/10000 rows (50.0%), 500 rows/s, ETA 10s\n',
      '  backfill orders: 8000/10000 rows (80.0%), 500 rows/s, ETA 4s\n',
    ]);
  });

  it('a pass done within the interval prints only its done line, with the rows it counted', () => {
    const { written, at } = rendered(HUMAN);
    at(0, fill(0));
    at(500, fill(9000));
    // The estimate was 10000; the event says 9000 rows were all.
    at(500, fill(9000, { done: true }));
    expect(written.stderr).toEqual([
      '  backfill items: 9000/9000 rows (100.0%), 500 rows/s, done\n',
    ]);
  });

  it('with an interval of 0, only the done lines', () => {
    const { written, at } = rendered({ ...HUMAN, progressIntervalMs: 0 });
    for (let i = 0; i < 100; i++) at(1000, fill(i * 100));
    at(1000, fill(10_000, { done: true }));
    expect(written.stderr).toEqual([
      '  backfill items: 10000/10000 rows (100.0%), 500 rows/s, done\n',
    ]);
  });

  it('other lines come in between as they are', () => {
    const { written, at } = rendered(HUMAN);
    at(0, { type: 'phase', migration: 'm1', phase: 'backfill' });
    at(0, fill(0));
    at(10_000, fill(10_000, { done: true }));
    at(0, { type: 'phase', migration: 'm1', phase: 'active' });
    expect(written.stderr.join('')).toBe(
      'm1: backfill\n  backfill items: 10000/10000 rows (100.0%), 500 rows/s, done\nm1: active\n',
    );
  });
});

describe('progress on a terminal', () => {
  it('redraws the same line in place at every report, and ends it before the next line', () => {
    const { written, at } = rendered(HUMAN, true);
    at(0, fill(1000));
    at(100, fill(2000));
    at(0, { type: 'notice', message: 'a notice' });
    at(100, fill(10_000, { done: true }));
    expect(written.stderr).toEqual([
      '\r\x1b[2K  backfill items: 1000/10000 rows (10.0%), 500 rows/s, ETA 18s',
      '\r\x1b[2K  backfill items: 2000/10000 rows (20.0%), 500 rows/s, ETA 16s',
      '\n',
      'a notice\n',
      '\r\x1b[2K  backfill items: 10000/10000 rows (100.0%), 500 rows/s, done',
      '\n',
    ]);
  });
});

describe('--json', () => {
  it('every event line carries the time it was written, as ISO 8601', () => {
    const { written, at } = rendered({ json: true, verbose: false });
    at(0, { type: 'phase', migration: 'm1', phase: 'backfill' });
    at(1500, fill(1000));
    at(250, { type: 'notice', message: 'a notice' });
    expect(written.stderr).toEqual([]);
    const lines = written.stdout.map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.event, l.at])).toEqual([
      ['phase', '2026-11-26T10:00:00.000Z'],
      ['backfill', '2026-11-26T10:00:01.500Z'],
      ['notice', '2026-11-26T10:00:01.750Z'],
    ]);
    // Every backfill report, whatever the interval: machines choose their own.
    expect(lines[1]).toMatchObject({ table: 'items', rowsDone: 1000, rowsPerSecond: 500 });
  });
});
