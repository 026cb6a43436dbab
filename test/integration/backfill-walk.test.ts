/** How the backfill walks tables of every shape, and the verification pass after it. */
import { describe, expect, it } from 'vitest';
import type { BackfillProgress } from '../../src/backfill/run.js';
import { VerificationError } from '../../src/backfill/verify.js';
import { Tidal } from '../../src/tidal.js';
import { syncTriggerColumns } from '../helpers/catalog.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, versionClient, withTidal } from '../helpers/tidal.js';
import { until } from '../helpers/wait.js';

/** The backfills here run at a few thousand rows/s: what they wait for can take a while. */
const WAIT_MS = 20_000;

const SHOUT = `operations:
  - add_column:
      table: notes
      up: upper(body)
      column: {name: shout, type: text, nullable: true}
`;

interface Run {
  progress: BackfillProgress[];
  notices: string[];
  runner: Tidal;
}

async function runner(db: TestDatabase, rate?: number, verify = true): Promise<Run> {
  const progress: BackfillProgress[] = [];
  const notices: string[] = [];
  const tidal = await Tidal.connect({
    connectionString: db.url,
    backfillBatchSize: 200,
    backfillRate: rate,
    backfillVerify: verify,
    onEvent: (e) => {
      if (e.type === 'backfill') progress.push(e);
      if (e.type === 'notice') notices.push(e.message);
    },
  });
  return { progress, notices, runner: tidal };
}

/** The state row of the one backfill in the database. */
async function checkpoint(db: TestDatabase) {
  return (
    await rows<{
      done: number;
      finished: boolean;
      checked: number;
      verified: boolean;
      throttle: string | null;
    }>(
      db.pool,
      'SELECT rows_done::int AS done, done AS finished, rows_verified::int AS checked, verified, throttle FROM tidal.backfills',
    ).catch(() => [])
  )[0];
}

/** A write behind the dual-write trigger's back (its session fires no triggers). */
async function behindTrigger(db: TestDatabase, sql: string): Promise<void> {
  const rogue = await db.client();
  await rogue.query('SET session_replication_role = replica');
  await rogue.query(sql);
}

async function pause(db: TestDatabase, paused: boolean): Promise<void> {
  await withTidal(db.url, (t) => t.backfill(paused ? { pause: true } : { resume: true }));
  if (paused)
    await until(
      'the backfill pauses',
      async () => (await checkpoint(db))?.throttle === 'paused',
      WAIT_MS,
    );
}

describe('a table without a primary key or unique key', () => {
  it('is walked by physical location while the application inserts and updates, losing nothing', async () => {
    const db = await createTestDatabase();
    try {
      // Duplicate rows: nothing tells them apart but where they are.
      await db.query('CREATE TABLE notes (n int, body text)');
      await db.query(
        `INSERT INTO notes SELECT g % 1000, 'note ' || (g % 1000) FROM generate_series(1, 20000) g`,
      );
      await db.query('ANALYZE notes');
      const { progress, notices, runner: tidal } = await runner(db, 20_000);
      const app = await versionClient(db.url, null);
      let writing = true;
      let inserted = 0;
      let updated = 0;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          await app.query(`INSERT INTO notes VALUES ($1::int, 'new ' || $1::int)`, [5000 + i]);
          inserted++;
          const result = await app.query(`UPDATE notes SET body = body || '!' WHERE n = $1`, [
            (i * 7) % 1000,
          ]);
          updated += result.rowCount ?? 0;
        }
      })();
      try {
        await tidal.start(await migrationFromYaml('shout', SHOUT));
      } finally {
        writing = false;
        await writer;
        await app.end();
        await tidal.close();
      }
      expect(notices.some((m) => m.includes('by physical location'))).toBe(true);
      // Any update can move a row behind the walk: every one fires the trigger.
      expect(await syncTriggerColumns(db.pool, 'notes')).toEqual([]);
      expect(inserted).toBeGreaterThan(0);
      expect(updated).toBeGreaterThan(0);
      // Many batches, each a run of pages; the progress never passed its total.
      const fill = progress.filter((p) => p.pass === 'fill');
      expect(fill.length).toBeGreaterThan(5);
      for (const p of progress) expect(p.rowsDone).toBeLessThanOrEqual(p.rowsTotal);
      expect(await checkpoint(db)).toMatchObject({ finished: true, verified: true });

      expect(
        await rows(
          db.pool,
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE _tidal_new_shout IS DISTINCT FROM upper(body))::int AS wrong FROM notes`,
        ),
      ).toEqual([{ n: 20_000 + inserted, wrong: 0 }]);
      await withTidal(db.url, (t) => t.complete());
      expect(
        await rows(
          db.pool,
          `SELECT count(*)::int AS wrong FROM notes WHERE shout IS DISTINCT FROM upper(body)`,
        ),
      ).toEqual([{ wrong: 0 }]);
    } finally {
      await db.dispose();
    }
  }, 60_000);

  it('a partitioned table without a key: a run of pages of every partition at once, every row filled', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (n int, body text) PARTITION BY RANGE (n)');
      await db.query('CREATE TABLE notes_low PARTITION OF notes FOR VALUES FROM (0) TO (1000)');
      await db.query('CREATE TABLE notes_high PARTITION OF notes FOR VALUES FROM (1000) TO (9000)');
      await db.query(`INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(0, 8999) g`);
      await db.query('ANALYZE notes');
      const { progress, runner: tidal } = await runner(db);
      try {
        await tidal.start(await migrationFromYaml('shout', SHOUT));
      } finally {
        await tidal.close();
      }
      for (const pass of ['fill', 'verify'] as const) {
        expect(progress.filter((p) => p.pass === pass).at(-1)).toMatchObject({
          rowsDone: 9000,
          done: true,
        });
      }
      expect(
        await rows(
          db.pool,
          `SELECT tableoid::regclass::text AS part, count(*)::int AS n,
                  count(*) FILTER (WHERE _tidal_new_shout IS DISTINCT FROM upper(body))::int AS wrong
             FROM notes GROUP BY 1 ORDER BY 1`,
        ),
      ).toEqual([
        { part: 'notes_high', n: 8000, wrong: 0 },
        { part: 'notes_low', n: 1000, wrong: 0 },
      ]);
    } finally {
      await db.dispose();
    }
  }, 60_000);

  it('walks again from the start when VACUUM FULL rewrites the table during the fill, leaving no row unfilled', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (n int, body text)');
      await db.query(`INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 20000) g`);
      await db.query('ANALYZE notes');
      const { notices, runner: tidal } = await runner(db, 10_000);
      try {
        const started = tidal.start(await migrationFromYaml('shout', SHOUT));
        await until(
          '5000 rows filled',
          async () => ((await checkpoint(db))?.done ?? 0) >= 5000,
          WAIT_MS,
        );
        await pause(db, true);
        // The rewrite packs the rows not yet filled into the pages the walk has passed.
        await db.query('VACUUM FULL notes');
        const behind = await rows<{ n: number }>(
          db.pool,
          'SELECT count(*)::int AS n FROM notes WHERE _tidal_needs_backfill',
        );
        expect(behind[0]?.n).toBeGreaterThan(0);
        await pause(db, false);
        await started;
      } finally {
        await tidal.close();
      }
      expect(notices).toContainEqual(
        expect.stringMatching(
          /^"notes" was rewritten \(VACUUM FULL, CLUSTER or pg_repack\) during its walk by physical location: the fill pass walks it again from the start$/,
        ),
      );
      // The fill reached every row itself: the verification found none left.
      expect(notices.some((m) => m.includes('had not reached'))).toBe(false);
      // Rows the fill wrote before the rewrite were not counted again.
      expect(await checkpoint(db)).toMatchObject({ done: 20_000, verified: true });
      expect(
        await rows(
          db.pool,
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE _tidal_new_shout IS DISTINCT FROM upper(body))::int AS wrong FROM notes`,
        ),
      ).toEqual([{ n: 20_000, wrong: 0 }]);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('rows the application writes ahead of the walk', () => {
  it('a row whose key moves behind the walk is filled by the trigger; one written elsewhere keeps its mark for the walk', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text, tag text)');
      await db.query(
        `INSERT INTO notes SELECT g, 'note ' || g, NULL FROM generate_series(1, 3000) g`,
      );
      // No verification pass: it would fill what the walk missed.
      const { runner: tidal } = await runner(db, 5000, false);
      try {
        const started = tidal.start(await migrationFromYaml('shout', SHOUT));
        await until(
          '500 rows filled',
          async () => ((await checkpoint(db))?.done ?? 0) >= 500,
          WAIT_MS,
        );
        await pause(db, true);
        expect(await syncTriggerColumns(db.pool, 'notes')).toEqual([
          'id',
          'body',
          '_tidal_new_shout',
        ]);
        // Through the old version, on rows the walk has not reached: 3000 moves behind it.
        await db.query('UPDATE notes SET id = -1 WHERE id = 3000');
        await db.query(`UPDATE notes SET tag = 'seen' WHERE id = 2999`);
        expect(
          await rows(
            db.pool,
            'SELECT id, _tidal_needs_backfill AS mark FROM notes WHERE id IN (-1, 2999) ORDER BY id',
          ),
        ).toEqual([
          { id: -1, mark: false },
          { id: 2999, mark: true },
        ]);
        await pause(db, false);
        await started;
      } finally {
        await tidal.close();
      }
      await withTidal(db.url, (t) => t.complete());
      expect(
        await rows(
          db.pool,
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE shout IS DISTINCT FROM upper(body))::int AS wrong FROM notes`,
        ),
      ).toEqual([{ n: 3000, wrong: 0 }]);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('an empty table', () => {
  it.each([
    ['with a primary key', 'CREATE TABLE notes (id int PRIMARY KEY, body text)'],
    ['without a key', 'CREATE TABLE notes (body text)'],
  ])('%s: one batch finds nothing, and both passes are done', async (_shape, ddl) => {
    const db = await createTestDatabase();
    try {
      await db.query(ddl);
      const { progress, runner: tidal } = await runner(db);
      try {
        await tidal.start(await migrationFromYaml('shout', SHOUT));
      } finally {
        await tidal.close();
      }
      expect(progress.map((p) => [p.pass, p.rowsDone, p.done])).toEqual([
        ['fill', 0, true],
        ['verify', 0, true],
      ]);
      expect(await checkpoint(db)).toMatchObject({ done: 0, finished: true, verified: true });
    } finally {
      await db.dispose();
    }
  });
});

describe('a table whose only key is a unique NOT NULL column', () => {
  it('is walked by that key, and verification skips a column whose up is not immutable', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (code text NOT NULL UNIQUE, body text)');
      await db.query(
        `INSERT INTO notes SELECT 'c' || g, 'note ' || g FROM generate_series(1, 3000) g`,
      );
      const { notices, progress, runner: tidal } = await runner(db);
      try {
        await tidal.start(
          await migrationFromYaml(
            'two',
            `${SHOUT}  - add_column:
      table: notes
      up: now()
      column: {name: stamped_at, type: timestamptz, nullable: true}
`,
          ),
        );
      } finally {
        await tidal.close();
      }
      expect(notices.some((m) => m.includes('walks rows by key (code)'))).toBe(true);
      const skipped = notices.filter((m) => m.includes('skips column'));
      expect(skipped).toHaveLength(1);
      expect(skipped[0]).toMatch(/skips column "stamped_at": .*not immutable/);
      // Verified all rows, the other column compared.
      expect(progress.filter((p) => p.pass === 'verify').at(-1)).toMatchObject({
        done: true,
        rowsDone: 3000,
      });
      expect(
        await rows(
          db.pool,
          `SELECT count(*)::int AS wrong FROM notes WHERE _tidal_new_shout IS DISTINCT FROM upper(body) OR _tidal_new_stamped_at IS NULL`,
        ),
      ).toEqual([{ wrong: 0 }]);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('verification', () => {
  it('stops start with sample keys when a filled row differs from up, and finishes once it is written again', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await db.query(`INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 3000) g`);
      const loaded = await migrationFromYaml('shout', SHOUT);
      const { runner: tidal } = await runner(db, 5000);
      let failure: unknown;
      try {
        const started = tidal.start(loaded);
        await until(
          '500 rows filled',
          async () => ((await checkpoint(db))?.done ?? 0) >= 500,
          WAIT_MS,
        );
        await pause(db, true);
        // A write behind the dual-write trigger's back: the filled copy of row 7 goes stale.
        await behindTrigger(db, `UPDATE notes SET body = 'changed' WHERE id IN (7, 9)`);
        await pause(db, false);
        failure = await started.catch((e: unknown) => e);
      } finally {
        await tidal.close();
      }
      expect(failure).toBeInstanceOf(VerificationError);
      expect((failure as Error).message).toMatch(
        /verification of the backfill of "notes" failed: 2 row\(s\) .* e\.g\. key \(7\), \(9\)/,
      );
      // Not rolled back: the migration waits, its fill done and its verification not.
      expect(await checkpoint(db)).toMatchObject({ finished: true, verified: false });
      const status = await withTidal(db.url, (t) => t.status());
      expect(status.active).toMatchObject({ name: 'shout', phase: 'starting' });
      expect(status.active?.lastError).toMatch(/verification/);
      // complete refuses a start that did not finish.
      await expect(withTidal(db.url, (t) => t.complete())).rejects.toThrow(/has not finished/);

      // Written again through the old version, the rows get their copy from the trigger.
      await db.query(`UPDATE notes SET body = body WHERE id IN (7, 9)`);
      await withTidal(db.url, (t) => t.start(loaded));
      expect(await checkpoint(db)).toMatchObject({ finished: true, verified: true });
      await withTidal(db.url, (t) => t.complete());
      expect(
        await rows(
          db.pool,
          `SELECT count(*)::int AS wrong FROM notes WHERE shout IS DISTINCT FROM upper(body)`,
        ),
      ).toEqual([{ wrong: 0 }]);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('verification after a rewrite', () => {
  it('walks the table again from the start when VACUUM FULL rewrites it during the pass, and still finds a stale row', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await db.query(`INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 3000) g`);
      const { notices, runner: tidal } = await runner(db, 1000);
      let failure: unknown;
      try {
        const started = tidal.start(await migrationFromYaml('shout', SHOUT));
        await until(
          '1000 rows verified',
          async () => ((await checkpoint(db))?.checked ?? 0) >= 1000,
          WAIT_MS,
        );
        await pause(db, true);
        // Copies made stale behind the trigger's back, then a rewrite that moves every row to
        // pages the walk has passed: only a walk begun again finds them.
        await behindTrigger(db, `UPDATE notes SET _tidal_new_shout = 'stale' WHERE id > 2990`);
        await db.query('VACUUM FULL notes');
        await pause(db, false);
        failure = await started.catch((e: unknown) => e);
      } finally {
        await tidal.close();
      }
      expect(notices).toContainEqual(
        expect.stringMatching(/^"notes" was rewritten .*: the verify pass walks it again/),
      );
      expect(failure).toBeInstanceOf(VerificationError);
      expect((failure as Error).message).toMatch(/failed: 10 row\(s\) .* e\.g\. key \(2991\)/);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('a verification an older tidal began by key', () => {
  it('goes on by key from where it stood', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await db.query(`INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 3000) g`);
      const loaded = await migrationFromYaml('shout', SHOUT);
      const { runner: tidal } = await runner(db, 2000);
      try {
        const started = tidal.start(loaded);
        await until('the fill done', async () => !!(await checkpoint(db))?.finished, WAIT_MS);
        await pause(db, true);
        // A stale copy stops the verification, so that its checkpoint stays behind.
        await behindTrigger(db, `UPDATE notes SET _tidal_new_shout = 'stale' WHERE id = 3000`);
        await pause(db, false);
        await expect(started).rejects.toBeInstanceOf(VerificationError);
      } finally {
        await tidal.close();
      }
      // The checkpoint as a verification by key leaves it: two segments split at key 1500,
      // the first walked, the second up to key 2000.
      await db.query(`DELETE FROM tidal.backfill_segments WHERE pass = 'verify'`);
      await db.query(
        `INSERT INTO tidal.backfill_segments (schema, migration, table_name, pass, segment, start_key, end_key, position, rows_done, done)
         VALUES ('public', 'shout', 'notes', 'verify', 0, NULL, '["1500"]', '["1500"]', 1500, true),
                ('public', 'shout', 'notes', 'verify', 1, '["1500"]', NULL, '["2000"]', 500, false)`,
      );
      await db.query(`UPDATE tidal.backfills SET rows_verified = 2000`);
      await db.query(`UPDATE notes SET body = body WHERE id = 3000`);
      await withTidal(db.url, (t) => t.start(loaded));
      // The last 1000 keys verified: read as pages, position 2000 would be past the table's end.
      expect(await checkpoint(db)).toMatchObject({ verified: true, checked: 3000 });
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('the settings of a batch', () => {
  it('runs without JIT, whatever the server says: compiling a batch costs more than running it', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await db.query(`INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 500) g`);
      // The server's own setting, which a batch must not inherit.
      await db.query(`ALTER DATABASE ${db.name} SET jit = on`);
      const { runner: tidal } = await runner(db);
      try {
        // `up` records the setting each batch ran with.
        await tidal.start(
          await migrationFromYaml(
            'jit',
            `operations:
  - add_column:
      table: notes
      up: current_setting('jit')
      column: {name: batch_jit, type: text, nullable: true}
`,
          ),
        );
      } finally {
        await tidal.close();
      }
      expect(
        await rows(
          db.pool,
          `SELECT _tidal_new_batch_jit AS jit, count(*)::int AS n FROM notes GROUP BY 1`,
        ),
      ).toEqual([{ jit: 'off', n: 500 }]);
    } finally {
      await db.dispose();
    }
  });
});
