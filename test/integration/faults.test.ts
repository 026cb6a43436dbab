/**
 * Fault injection under application traffic: the tidal process killed at each phase boundary,
 * its connection cut mid-statement, a lock held against its DDL. Each ends with the traffic's
 * data intact, the migration finished by running the same command again, `tidal status` true to
 * where it stood, and the catalog the same as after a clean run.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkInvariants,
  DEMO_MIGRATION,
  NEW_APP,
  OLD_APP,
  seedAccounts,
} from '../../src/demo/compare.js';
import { TrafficGroup, type Workload } from '../../src/demo/traffic.js';
import { type CatalogSnapshot, snapshotCatalog } from '../helpers/catalog.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli, startCli } from '../helpers/tidal.js';
import { until } from '../helpers/wait.js';

const ROWS = 5000;
const NAME = 'cents';
const SLOW = ['--backfill-batch-size', '100', '--backfill-rate', '5000'];
let file: string;
/** The catalog after a clean start and complete, and before any migration. */
let clean: CatalogSnapshot;
let before: CatalogSnapshot;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tidal-faults-'));
  file = join(dir, `${NAME}.yaml`);
  await writeFile(file, DEMO_MIGRATION);
  const db = await createTestDatabase();
  try {
    await seedAccounts(db.url, ROWS);
    before = await snapshotCatalog(db.pool);
    expect((await runCli(['start', file, '--url', db.url])).code).toBe(0);
    expect((await runCli(['complete', '--url', db.url])).code).toBe(0);
    clean = await snapshotCatalog(db.pool);
  } finally {
    await db.dispose();
  }
});

/** A database with the seeded table, and the application traffic run against it. */
class Scenario {
  private readonly groups: TrafficGroup[] = [];
  private running: TrafficGroup | undefined;

  private constructor(readonly db: TestDatabase) {}

  static async create(): Promise<Scenario> {
    const db = await createTestDatabase();
    await seedAccounts(db.url, ROWS);
    return new Scenario(db);
  }

  /** Switches the traffic to `workload` through `versionSchema` (null: the plain tables). */
  async traffic(workload: Workload | null, versionSchema: string | null = null): Promise<void> {
    await this.running?.stop();
    this.running = undefined;
    if (!workload) return;
    const group = new TrafficGroup({
      url: this.db.url,
      versionSchema,
      connections: 2,
      ratePerSecond: 200,
      workload,
      maxId: ROWS,
    });
    this.groups.push(group);
    await group.start();
    this.running = group;
  }

  async cli(args: string[]): Promise<void> {
    const result = await runCli([...args, '--url', this.db.url]);
    expect(result.code, result.stderr).toBe(0);
  }

  /** Runs a tidal command with --json and kills it (or cuts its connection) at `when`. */
  async interrupt(
    args: string[],
    when: (event: Record<string, unknown>) => boolean,
    how: 'kill' | 'cut connection' = 'kill',
  ): Promise<{ code: number | null; stderr: string }> {
    let fired = false;
    const cli = startCli([...args, '--url', this.db.url, '--json'], (line) => {
      if (fired || !line.startsWith('{') || !when(JSON.parse(line))) return;
      fired = true;
      if (how === 'kill') cli.child.kill('SIGKILL');
      // tidal's sessions are named after their command.
      else
        void this.db
          .query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND application_name LIKE 'tidal start%'`,
          )
          .catch(() => {});
    });
    const code = await cli.exited;
    expect(fired, `the moment to interrupt never came; stderr:\n${cli.stderr()}`).toBe(true);
    return { code, stderr: cli.stderr() };
  }

  /** An open transaction that read the table: ALTER TABLE waits for it. */
  async holdLock(): Promise<pg.Client> {
    const holder = await this.db.client('lock holder');
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM accounts');
    return holder;
  }

  async phase(): Promise<string | null> {
    const status = await runCli(['status', '--json', '--url', this.db.url]);
    return JSON.parse(status.stdout).active?.phase ?? null;
  }

  /** Every transaction succeeded, and the table holds every row and update the traffic made. */
  async expectDataIntact(): Promise<void> {
    await this.traffic(null);
    const failures = this.groups.flatMap((g) => g.transactions.filter((t) => !t.ok));
    expect(failures.map((f) => f.error)).toEqual([]);
    expect(this.groups.reduce((n, g) => n + g.transactions.length, 0)).toBeGreaterThan(100);
    for (const check of await checkInvariants(this.db.pool, ROWS, this.groups))
      expect(check.actual, check.name).toBe(check.expected);
  }

  async dispose(): Promise<void> {
    await this.traffic(null);
    await this.db.dispose();
  }
}

const isPhase = (phase: string) => (e: Record<string, unknown>) =>
  e.event === 'phase' && e.phase === phase;
const isLockRetry = (e: Record<string, unknown>) => e.event === 'lock-retry';

/** The new version's traffic, then complete, then the checks of a completed migration. */
async function finish(s: Scenario): Promise<void> {
  await s.traffic(NEW_APP, `public_${NAME}`);
  await s.cli(['complete']);
  await new Promise((r) => setTimeout(r, 300));
  await s.expectDataIntact();
  expect(await s.phase()).toBeNull();
  expect(await snapshotCatalog(s.db.pool)).toEqual(clean);
}

describe('faults while application traffic runs', () => {
  it('start killed while its expand DDL waits for a lock: status says starting; start again finishes', async () => {
    const s = await Scenario.create();
    try {
      await s.traffic(OLD_APP);
      const holder = await s.holdLock();
      const { code } = await s.interrupt(['start', file], isLockRetry);
      expect(code).toBeNull(); // killed
      expect(await s.phase()).toBe('starting');
      await holder.query('ROLLBACK');
      await s.cli(['start', file]);
      expect(await s.phase()).toBe('active');
      await finish(s);
    } finally {
      await s.dispose();
    }
  });

  it('start killed between expand and backfill: start again backfills and finishes', async () => {
    const s = await Scenario.create();
    try {
      await s.traffic(OLD_APP);
      await s.interrupt(['start', file, ...SLOW], isPhase('backfill'));
      expect(await s.phase()).toBe('starting');
      await s.cli(['start', file]);
      await finish(s);
    } finally {
      await s.dispose();
    }
  });

  it("start's connection cut mid-backfill: it says how to go on, and start again finishes", async () => {
    const s = await Scenario.create();
    try {
      await s.traffic(OLD_APP);
      const { code, stderr } = await s.interrupt(
        ['start', file, ...SLOW],
        (e) => e.event === 'backfill' && Number(e.rowsDone) > 500,
        'cut connection',
      );
      expect(code).toBe(1);
      expect(stderr).toMatch(/connection was lost during start of "cents"/);
      expect(await s.phase()).toBe('starting');
      await s.cli(['backfill', 'resume']);
      expect(await s.phase()).toBe('active');
      await finish(s);
    } finally {
      await s.dispose();
    }
  });

  it('complete killed while its DDL waits for a lock: status says completing; complete again finishes', async () => {
    const s = await Scenario.create();
    try {
      await s.traffic(OLD_APP);
      await s.cli(['start', file]);
      await s.traffic(NEW_APP, `public_${NAME}`);
      const holder = await s.holdLock();
      await s.interrupt(['complete'], isLockRetry);
      expect(await s.phase()).toBe('completing');
      // Rollback is refused once complete has begun.
      expect((await runCli(['rollback', '--url', s.db.url])).code).toBe(1);
      await holder.query('ROLLBACK');
      await finish(s);
    } finally {
      await s.dispose();
    }
  });

  it('rollback killed while it waits for a lock: status says rolling back; rollback again restores the catalog', async () => {
    const s = await Scenario.create();
    try {
      await s.traffic(OLD_APP);
      await s.cli(['start', file]);
      const holder = await s.holdLock();
      await s.interrupt(['rollback'], isLockRetry);
      expect(await s.phase()).toBe('rolling_back');
      await holder.query('ROLLBACK');
      await s.cli(['rollback']);
      expect(await s.phase()).toBeNull();
      await new Promise((r) => setTimeout(r, 300));
      await s.expectDataIntact();
      expect(await snapshotCatalog(s.db.pool)).toEqual(before);
    } finally {
      await s.dispose();
    }
  });

  it('a long transaction holds a lock: start retries with backoff while traffic goes on, and succeeds once it ends', async () => {
    const s = await Scenario.create();
    try {
      await s.traffic(OLD_APP);
      const holder = await s.holdLock();
      const start = startCli(['start', file, '--url', s.db.url]);
      const retries = () =>
        start.stderr().match(/lock not available for: .*retry \d+/g)?.length ?? 0;
      // It waits, names the holder, and tries again, more than once; then the lock is free.
      await until('a second lock retry', async () => retries() > 1, 60_000);
      await holder.query('ROLLBACK');
      expect(await start.exited, start.stderr()).toBe(0);
      expect(start.stderr()).toMatch(/lock holder/);
      await finish(s);
    } finally {
      await s.dispose();
    }
  });
});
