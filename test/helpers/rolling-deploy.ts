/**
 * A rolling deploy as an application lives it, with any data library: an old and a new release
 * write at once (several connections each, through tidal/client), each writer keeping its own
 * record of what it committed; then the rows are checked against those records.
 *
 * With TIDAL_ROLLING_FIGURES set to a file, each run appends its figures there as a JSON line
 * (`npm run bench:rolling` prints them per library).
 *
 * Two deploys on one database: `public` (the base) → `02_display` (renames `name` to
 * `display_name`, widens `score`), completed; then `02_display` → `03_nick` (renames it to
 * `nickname`, makes `score` NOT NULL), rolled back.
 */
import { appendFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import { type ClientVersion, tidalVersion } from '../../src/client/index.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { migrationFromYaml, withTidal } from './tidal.js';
import { until } from './wait.js';

/** A row as a release writes it: `name` goes to the version's name column. */
export interface ReleaseRow {
  id: number;
  name: string;
  score: number;
}

/** One release's connections, through the library under test. */
export interface ReleaseClient {
  /** In one transaction: insert `inserted`, and set name and score of `updated.id`. */
  write(inserted: ReleaseRow, updated: ReleaseRow): Promise<void>;
  end(): Promise<void>;
}

export interface ReleaseSpec {
  url: string;
  version: ClientVersion;
  /** The users table's name column in this version. */
  nameColumn: 'name' | 'display_name' | 'nickname';
  /** Connections of its pool, and writers on them. */
  connections: number;
}

/** Opens a release with one library and one way of naming the table. */
export type OpenRelease = (release: ReleaseSpec) => Promise<ReleaseClient>;

const SEEDED = 200;
const CONNECTIONS = 3;
/** Transactions each writer commits in each phase before the deploy moves on. */
const PER_PHASE = 8;

const SECOND = `
operations:
  - rename_column:
      table: users
      from: name
      to: display_name
  - alter_column:
      table: users
      column: score
      type: bigint
      up: score
      down: score
`;

const THIRD = `
operations:
  - rename_column:
      table: users
      from: display_name
      to: nickname
  - alter_column:
      table: users
      column: score
      nullable: false
      up: coalesce(score, 0)
`;

/** One writer: its own rows (seeded ones it owns, and those it inserts), and what it wrote. */
class Writer {
  transactions = 0;
  readonly failures: string[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private round = 0;

  constructor(
    private readonly client: ReleaseClient,
    private readonly label: string,
    private readonly owned: number[],
    private readonly deploy: Deploy,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const round = this.round++;
        const inserted = {
          id: this.deploy.nextId++,
          name: `${this.label} new ${round}`,
          score: round,
        };
        const target = this.owned[round % this.owned.length] ?? inserted.id;
        const updated = { id: target, name: `${this.label} set ${round}`, score: 1000 + round };
        const started = performance.now();
        try {
          await this.client.write(inserted, updated);
          this.deploy.latenciesMs.push(performance.now() - started);
          this.transactions++;
          this.owned.push(inserted.id);
          this.deploy.expected.set(inserted.id, { name: inserted.name, score: inserted.score });
          this.deploy.expected.set(updated.id, { name: updated.name, score: updated.score });
        } catch (error) {
          this.failures.push(`${this.label}: ${(error as Error).message}`);
        }
        // Leaves the two cores some room for tidal's own work.
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** A release running: its client and writers. */
class Release {
  readonly writers: Writer[] = [];

  constructor(readonly client: ReleaseClient) {}

  /** Waits until every writer has committed `count` more transactions than now. */
  async progress(count = PER_PHASE): Promise<void> {
    const from = this.writers.map((w) => w.transactions);
    await until(
      `each writer commits ${count} transactions`,
      async () => this.writers.every((w, i) => w.transactions >= (from[i] ?? 0) + count),
      30_000,
    );
  }

  /** Stops the writers and closes the connections: the release is gone. */
  async stop(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.stop()));
    await this.client.end();
  }
}

/** The database of a deploy and what the writers committed to it. */
class Deploy {
  nextId = SEEDED + 1;
  /** Name and score of every row, as the last committed write left it. */
  readonly expected = new Map<number, { name: string; score: number }>();
  readonly releases: Release[] = [];
  /** How long each committed transaction took. */
  readonly latenciesMs: number[] = [];
  /** Rows found unlike the writers' records, over every check. */
  wrongRows = 0;
  readonly mismatches: { id: number; found: unknown; wanted: unknown }[] = [];

  constructor(
    readonly db: TestDatabase,
    readonly open: OpenRelease,
  ) {
    for (let id = 1; id <= SEEDED; id++) this.expected.set(id, { name: `user ${id}`, score: id });
  }

  /** Opens a release and starts its writers; seeded rows are shared out between `slots`
   *  writers, `slot` being this release's first. */
  async release(
    version: string,
    nameColumn: ReleaseSpec['nameColumn'],
    slot: number,
    slots: number,
  ): Promise<Release> {
    const client = await this.open({
      url: this.db.url,
      version: tidalVersion(version),
      nameColumn,
      connections: CONNECTIONS,
    });
    const release = new Release(client);
    for (let i = 0; i < CONNECTIONS; i++) {
      const writerSlot = slot + i;
      const owned = [...Array(SEEDED).keys()]
        .map((k) => k + 1)
        .filter((id) => id % slots === writerSlot);
      const writer = new Writer(client, `${version}#${i}`, owned, this);
      release.writers.push(writer);
      writer.start();
    }
    this.releases.push(release);
    return release;
  }

  /** Transactions that failed, over every release so far. */
  failures(): string[] {
    return this.releases.flatMap((r) => r.writers.flatMap((w) => w.failures));
  }

  /** Counts the rows unlike the writers' records (the first few are kept, to show). */
  async check(nameColumn: ReleaseSpec['nameColumn']): Promise<void> {
    const { rows } = await this.db.query<{ id: number; name: string; score: number }>(
      `SELECT id, ${nameColumn} AS name, score::int AS score FROM public.users ORDER BY id`,
    );
    const actual = new Map(rows.map((r) => [r.id, { name: r.name, score: r.score }]));
    for (const id of new Set([...actual.keys(), ...this.expected.keys()])) {
      const [found, wanted] = [actual.get(id), this.expected.get(id)];
      if (JSON.stringify(found) === JSON.stringify(wanted)) continue;
      this.wrongRows++;
      if (this.mismatches.length < 10) this.mismatches.push({ id, found, wanted });
    }
  }
}

/** The tagged sessions on the database, counted by tag, as pg_stat_activity shows them. */
async function taggedSessions(db: TestDatabase): Promise<Record<string, number>> {
  const { rows } = await db.query<{ tag: string; count: number }>(
    `SELECT application_name AS tag, count(*)::int AS count FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE 'tidal:%'
      GROUP BY application_name ORDER BY application_name`,
  );
  return Object.fromEntries(rows.map((r) => [r.tag, r.count]));
}

export interface DeployFigures {
  /** Transactions each release committed, by version. */
  transactions: Record<string, number>;
  failures: number;
  wrongRows: number;
  /** Latency of the committed transactions. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The value below which `q` of `sorted` lies. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function figuresOf(deploy: Deploy, transactions: Record<string, number>): DeployFigures {
  const sorted = [...deploy.latenciesMs].sort((a, b) => a - b);
  const ms = (value: number) => Math.round(value * 10) / 10;
  return {
    transactions,
    failures: deploy.failures().length,
    wrongRows: deploy.wrongRows,
    p50Ms: ms(quantile(sorted, 0.5)),
    p99Ms: ms(quantile(sorted, 0.99)),
    maxMs: ms(sorted.at(-1) ?? 0),
  };
}

/** Appends the run's figures to TIDAL_ROLLING_FIGURES, named by the test that ran it. */
async function recordFigures(figures: DeployFigures): Promise<void> {
  const file = process.env.TIDAL_ROLLING_FIGURES;
  if (!file) return;
  const test = expect.getState().currentTestName ?? 'unnamed';
  await appendFile(file, `${JSON.stringify({ test, ...figures })}\n`);
}

/**
 * Runs both deploys with `open` on a fresh database and checks that no transaction failed and,
 * after each deploy, every row is right.
 */
export async function rollingDeploys(open: OpenRelease): Promise<DeployFigures> {
  const db = await createTestDatabase();
  try {
    await db.query(`CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, score int)`);
    await db.query(
      `INSERT INTO users SELECT g, 'user ' || g, g FROM generate_series(1, ${SEEDED}) g`,
    );
    const deploy = new Deploy(db, open);
    const second = await migrationFromYaml('02_display', SECOND);
    const third = await migrationFromYaml('03_nick', THIRD);
    const slots = 2 * CONNECTIONS;

    // Deploy 1: the old release runs through start; the new one joins; the old one goes;
    // complete; the new one goes on.
    const base = await deploy.release('public', 'name', 0, slots);
    await base.progress();
    await withTidal(db.url, (t) => t.start(second));
    const v2 = await deploy.release('02_display', 'display_name', CONNECTIONS, slots);
    await Promise.all([base.progress(), v2.progress()]);
    expect(await taggedSessions(db)).toEqual({ 'tidal:public': 3, 'tidal:public_02_display': 3 });
    await base.stop();
    await withTidal(db.url, (t) => t.complete());
    await v2.progress();
    await v2.stop();
    await deploy.check('display_name');

    // Deploy 2: the new release is taken back: it goes, the old one stays through rollback.
    const old = await deploy.release('02_display', 'display_name', 0, slots);
    await old.progress();
    await withTidal(db.url, (t) => t.start(third));
    const v3 = await deploy.release('03_nick', 'nickname', CONNECTIONS, slots);
    await Promise.all([old.progress(), v3.progress()]);
    expect(await taggedSessions(db)).toEqual({
      'tidal:public_02_display': 3,
      'tidal:public_03_nick': 3,
    });
    await v3.stop();
    await withTidal(db.url, (t) => t.rollback());
    await old.progress();
    await old.stop();
    await deploy.check('display_name');

    const transactions: Record<string, number> = {};
    for (const [version, release] of [
      ['public', base],
      ['02_display', v2],
      ['02_display (2)', old],
      ['03_nick', v3],
    ] as const) {
      transactions[version] = release.writers.reduce((sum, w) => sum + w.transactions, 0);
    }
    const figures = figuresOf(deploy, transactions);
    await recordFigures(figures);
    expect(deploy.failures()).toEqual([]);
    expect(deploy.mismatches).toEqual([]);
    return figures;
  } finally {
    await db.dispose();
  }
}
