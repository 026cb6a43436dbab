/**
 * `tidal migrate --as-one`: the pending files start together as one migration, with one version
 * schema (the last file's), one backfill per table however many files change it, one complete;
 * a rollback undoes all of them, and each file counts as applied on its own. Files whose `up`
 * or `down` would read another file's change as the wrong version are refused before anything
 * runs.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertVersionLive, tidalVersion } from '../../src/client/index.js';
import { LAYOUT_VERSION } from '../../src/state/layout.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli, versionClient, withTidal } from '../helpers/tidal.js';

/** A release written as four files, each built on the one before. */
const RELEASE: Record<string, string> = {
  '01_email_lower.yaml':
    'operations:\n  - add_column:\n      table: users\n      up: lower(email)\n      column: {name: email_lower, type: text, nullable: false}\n',
  '02_email_lower_index.yaml':
    'operations:\n  - create_index:\n      name: users_email_lower_idx\n      table: users\n      columns:\n        - column: email_lower\n',
  '03_score_bigint.yaml':
    'operations:\n  - alter_column:\n      table: users\n      column: score\n      type: bigint\n      up: CAST(score AS bigint)\n      down: CAST(score AS integer)\n',
  '04_score_required.yaml':
    'operations:\n  - alter_column:\n      table: users\n      column: score\n      nullable: false\n      up: COALESCE(score, 0)\n      down: score\n  - rename_column: {table: orders, from: total, to: amount}\n',
};
const LAST = '04_score_required';

async function seed(db: TestDatabase): Promise<void> {
  await db.query('CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, score int)');
  await db.query('CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint, total numeric)');
  await db.query(
    `INSERT INTO users (email, score) SELECT 'User' || g || '@Example.com', CASE WHEN g % 5 = 0 THEN NULL ELSE g END FROM generate_series(1, 3000) g`,
  );
  await db.query(
    'INSERT INTO orders (user_id, total) SELECT g, g * 1.5 FROM generate_series(1, 300) g',
  );
}

async function releaseFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidal-as-one-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** Inserts rows through one version until stopped; counts them. */
function writer(client: pg.Client, sql: (n: number) => string) {
  let running = true;
  let written = 0;
  let failure: unknown;
  const done = (async () => {
    while (running) {
      try {
        await client.query(sql(written));
        written++;
      } catch (error) {
        failure = error;
        return;
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      if (failure) throw failure;
      return written;
    },
  };
}

describe('tidal migrate --as-one', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await seed(db);
    dir = await releaseFolder(RELEASE);
  });

  afterAll(async () => {
    await db?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('plan --as-one shows the whole before anything runs: each operation at its file, one backfill', async () => {
    const planned = await runCli(['plan', dir, '--as-one', '--url', db.url]);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toContain(
      `plan of "${LAST}" on schema "public"; the new version will be schema "public_${LAST}"`,
    );
    expect(planned.stdout).toContain(
      `${dir}/01_email_lower.yaml: operations[0].add_column: new column filled`,
    );
    // The two alter_columns of score, from two files, are one copy.
    expect(planned.stdout).toContain(
      `${dir}/03_score_bigint.yaml: operations[0] and ${dir}/04_score_required.yaml: operations[0].alter_column: `,
    );
    expect(
      planned.stdout.match(/^ {2}"\w+": .*in short batches/gm)?.map((l) => l.split(':')[0]),
    ).toEqual(['  "users"']);
    const { rows } = await db.query(`SELECT to_regnamespace('tidal') IS NULL AS untouched`);
    expect(rows).toEqual([{ untouched: true }]);
  });

  it('starts every pending file as one version, with one backfill per table, while both versions write', async () => {
    const old = await versionClient(db.url, null);
    const oldWrites = writer(
      old,
      (n) =>
        `INSERT INTO users (email, score) VALUES ('Old${n}@Example.com', ${n % 3 === 0 ? 'NULL' : n})`,
    );
    const result = await withTidal(db.url, (tidal) => tidal.migrate(dir, { asOne: true }));
    expect(result).toEqual({
      applied: Object.keys(RELEASE).map((f) => f.slice(0, -5)),
      active: LAST,
    });

    // One version schema, the last file's; none for the files before it.
    const { rows: schemas } = await db.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'public\\_%' ORDER BY 1`,
    );
    expect(schemas.map((s) => s.nspname)).toEqual([`public_${LAST}`]);
    // One record, its files before it as members; one backfill of users, though three files
    // change it, and score copied once for both of its changes.
    const { rows: records } = await db.query(
      `SELECT name, phase, jsonb_path_query_array(members, '$[*].name') AS members,
              jsonb_array_length(plan -> 'backfills') AS backfills FROM tidal.migrations`,
    );
    expect(records).toEqual([
      {
        name: LAST,
        phase: 'active',
        members: ['01_email_lower', '02_email_lower_index', '03_score_bigint'],
        backfills: 1,
      },
    ]);
    const { rows: copies } = await db.query(
      `SELECT string_agg(column_name, ',' ORDER BY column_name) AS names FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'users' AND column_name LIKE '\\_tidal\\_new\\_%'`,
    );
    expect(copies).toEqual([{ names: '_tidal_new_email_lower,_tidal_new_score' }]);

    // Both versions write at once.
    const next = await versionClient(db.url, `public_${LAST}`);
    const newWrites = writer(
      next,
      (n) =>
        `INSERT INTO users (email, email_lower, score) VALUES ('New${n}@Example.com', 'new${n}@example.com', ${1_000_000 + n})`,
    );
    const newOrders = writer(
      next,
      (n) => `INSERT INTO orders (user_id, amount) VALUES (${n}, ${n}.25)`,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const oldCount = await oldWrites.stop();
    const newCount = await newWrites.stop();
    await newOrders.stop();
    expect(oldCount).toBeGreaterThan(0);
    expect(newCount).toBeGreaterThan(0);

    // The new version sees every row as all four files together make it.
    const { rows: seen } = await next.query(
      `SELECT count(*)::int AS n,
              count(*) FILTER (WHERE email_lower = lower(email))::int AS lowered,
              count(*) FILTER (WHERE score IS NULL)::int AS null_scores,
              pg_typeof(min(score))::text AS score_type FROM users`,
    );
    expect(seen).toEqual([
      {
        n: 3000 + oldCount + newCount,
        lowered: 3000 + oldCount + newCount,
        null_scores: 0,
        score_type: 'bigint',
      },
    ]);
    // A score the old version wrote as NULL reads 0 in the new version; one the new version
    // wrote reads the same in the old version.
    const { rows: oldSeen } = await old.query(
      `SELECT count(*) FILTER (WHERE email LIKE 'Old%' AND score IS NULL)::int AS old_nulls,
              count(*) FILTER (WHERE email LIKE 'New%' AND score = 1000000 + substr(email, 4, strpos(email, '@') - 4)::int)::int AS new_scores
         FROM users`,
    );
    const { rows: zeroes } = await next.query(
      `SELECT count(*)::int AS zeroes FROM users WHERE email LIKE 'Old%' AND score = 0`,
    );
    expect(oldSeen[0].old_nulls).toBeGreaterThan(0);
    expect(zeroes[0].zeroes).toBe(oldSeen[0].old_nulls);
    expect(oldSeen[0].new_scores).toBe(newCount);
    await old.end();
    await next.end();
  });

  it('counts each file as applied, names the whole in status, and lets no release pick a file inside it', async () => {
    const status = await runCli(['status', '--url', db.url]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(
      `active migration: ${LAST} (active), version schema public_${LAST}`,
    );
    expect(status.stdout).toContain(
      '  started as one with: 01_email_lower, 02_email_lower_index, 03_score_bigint',
    );
    await expect(assertVersionLive(db.pool, tidalVersion(LAST))).resolves.toBeUndefined();
    await expect(assertVersionLive(db.pool, tidalVersion('03_score_bigint'))).rejects.toThrow(
      `version "03_score_bigint" has no version schema of its own: migration "03_score_bigint" was started as one with "${LAST}" (tidal migrate --as-one), whose version is "public_${LAST}"`,
    );
    // migrate again: the whole is active, nothing else is pending.
    const again = await runCli(['migrate', dir, '--as-one', '--url', db.url]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(
      `applied 01_email_lower, 02_email_lower_index, 03_score_bigint, ${LAST}; "${LAST}" is active until \`tidal complete\``,
    );
  });

  it('rolls back all the files at once, losing no row either version wrote', async () => {
    const next = await versionClient(db.url, `public_${LAST}`);
    await next.query(
      `INSERT INTO users (email, email_lower, score) VALUES ('Last@Example.com', 'last@example.com', 7)`,
    );
    await next.end();
    const rolled = await runCli(['rollback', '--url', db.url]);
    expect(rolled.code, rolled.stderr).toBe(0);
    const { rows: columns } = await db.query(
      `SELECT table_name, string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) AS columns
         FROM information_schema.columns WHERE table_schema = 'public' GROUP BY 1 ORDER BY 1`,
    );
    expect(columns).toEqual([
      { table_name: 'orders', columns: 'id:bigint,user_id:bigint,total:numeric' },
      { table_name: 'users', columns: 'id:bigint,email:text,score:integer' },
    ]);
    const { rows: left } = await db.query(
      `SELECT (SELECT count(*)::int FROM tidal.migrations) AS records,
              to_regclass('public.users_email_lower_idx') IS NULL AS index_gone,
              (SELECT score FROM users WHERE email = 'Last@Example.com') AS last_score,
              (SELECT count(*)::int FROM orders WHERE total IS NULL) AS orders_without_total`,
    );
    expect(left).toEqual([
      { records: 0, index_gone: true, last_score: 7, orders_without_total: 0 },
    ]);
  });

  it('starts again and completes as one; every file is applied, and pull writes each back', async () => {
    const migrated = await runCli(['migrate', dir, '--as-one', '--complete', '--url', db.url]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stderr).toContain(`starting 4 files as one migration "${LAST}"`);
    const { rows } = await db.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE email_lower = lower(email))::int AS lowered,
              count(*) FILTER (WHERE score IS NULL)::int AS null_scores,
              (SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users' AND column_name = 'score') AS score_type,
              (SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users' AND column_name = 'score') AS nullable,
              to_regclass('public.users_email_lower_idx') IS NOT NULL AS indexed,
              (SELECT count(*)::int FROM orders WHERE amount IS NOT NULL) AS orders
         FROM users`,
    );
    expect(rows[0]).toMatchObject({
      null_scores: 0,
      score_type: 'bigint',
      nullable: 'NO',
      indexed: true,
    });
    expect(rows[0]?.lowered).toBe(rows[0]?.n);
    expect(rows[0]?.orders).toBeGreaterThan(300);

    const nothing = await runCli(['migrate', dir, '--as-one', '--url', db.url]);
    expect(nothing.stdout.trim()).toBe('nothing to migrate');
    const status = await runCli(['status', '--json', '--url', db.url]);
    expect(JSON.parse(status.stdout)).toMatchObject({ applied: 4, active: null });

    const pulled = await mkdtemp(join(tmpdir(), 'tidal-as-one-pull-'));
    try {
      const pull = await runCli(['pull', pulled, '--url', db.url]);
      expect(pull.code, pull.stderr).toBe(0);
      expect((await readdir(pulled)).sort()).toEqual(Object.keys(RELEASE));
      for (const [name, text] of Object.entries(RELEASE)) {
        expect(await readFile(join(pulled, name), 'utf8')).toBe(text);
      }
    } finally {
      await rm(pulled, { recursive: true, force: true });
    }
    // A file applied inside the whole must not change afterwards, as any applied file.
    await writeFile(
      join(dir, '02_email_lower_index.yaml'),
      `${RELEASE['02_email_lower_index.yaml']}# edited\n`,
    );
    const edited = await runCli(['migrate', dir, '--url', db.url]);
    expect(edited.code).toBe(2);
    expect(edited.stderr).toContain(
      'migration "02_email_lower_index" was applied with different content',
    );
    await writeFile(
      join(dir, '02_email_lower_index.yaml'),
      RELEASE['02_email_lower_index.yaml'] as string,
    );
  });
});

describe('tidal migrate --as-one, interrupted', () => {
  it('resumes the whole where it stopped, and refuses other files in its place', async () => {
    const db = await createTestDatabase();
    const dir = await releaseFolder(RELEASE);
    try {
      await seed(db);
      // A long transaction holds users: the first column cannot be added in time.
      const holder = await db.client('holder');
      await holder.query('BEGIN');
      await holder.query('LOCK users IN ACCESS SHARE MODE');
      const stopped = await runCli([
        'migrate',
        dir,
        '--as-one',
        '--url',
        db.url,
        '--lock-timeout',
        '50',
        '--lock-retry-deadline',
        '300',
      ]);
      expect(stopped.code, stopped.stderr).toBe(1);
      expect(stopped.stderr).toContain(`start of "${LAST}" stopped`);
      await holder.query('ROLLBACK');
      const { rows: recorded } = await db.query(
        `SELECT name, phase, jsonb_array_length(members) AS members FROM tidal.migrations`,
      );
      expect(recorded).toEqual([{ name: LAST, phase: 'starting', members: 3 }]);

      // Another set of files in its place is refused; the same set resumes it.
      await rm(join(dir, '02_email_lower_index.yaml'));
      const other = await runCli(['migrate', dir, '--as-one', '--url', db.url]);
      expect(other.code).toBe(1);
      expect(other.stderr).toContain(
        `migration "${LAST}" is starting (started as one with 01_email_lower, 02_email_lower_index, 03_score_bigint), and it is not the next files of ${dir}`,
      );
      await writeFile(
        join(dir, '02_email_lower_index.yaml'),
        RELEASE['02_email_lower_index.yaml'] as string,
      );
      const resumed = await runCli(['migrate', dir, '--as-one', '--complete', '--url', db.url]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(`resuming the interrupted start of "${LAST}"`);
      const { rows } = await db.query(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE email_lower = lower(email) AND score IS NOT NULL)::int AS right,
                to_regclass('public.users_email_lower_idx') IS NOT NULL AS indexed FROM users`,
      );
      expect(rows).toEqual([{ n: 3000, right: 3000, indexed: true }]);
    } finally {
      await db.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a state schema of the layout before --as-one', () => {
  it('is read by the commands that only read it, and upgraded by the others', async () => {
    const db = await createTestDatabase();
    const dir = await releaseFolder({
      '01_email_lower.yaml': RELEASE['01_email_lower.yaml'] as string,
    });
    try {
      await seed(db);
      const done = await runCli(['migrate', dir, '--complete', '--url', db.url]);
      expect(done.code, done.stderr).toBe(0);
      // As a tidal before layout 5 left it.
      await db.query('ALTER TABLE tidal.migrations DROP COLUMN members');
      await db.query('DROP TABLE tidal.step_runs');
      await db.query('UPDATE tidal.layout SET version = 4');
      await writeFile(
        join(dir, '02_email_lower_index.yaml'),
        RELEASE['02_email_lower_index.yaml'] as string,
      );
      const planned = await runCli([
        'plan',
        join(dir, '02_email_lower_index.yaml'),
        '--url',
        db.url,
      ]);
      expect(planned.code, planned.stderr).toBe(0);
      const latest = await runCli(['latest', 'migration', '--url', db.url]);
      expect(latest.stdout.trim()).toBe('01_email_lower');
      const before = await db.query('SELECT version FROM tidal.layout');
      expect(before.rows).toEqual([{ version: 4 }]);
      const migrated = await runCli(['migrate', dir, '--as-one', '--complete', '--url', db.url]);
      expect(migrated.code, migrated.stderr).toBe(0);
      const { rows } = await db.query(
        `SELECT (SELECT version FROM tidal.layout) AS layout, string_agg(name || ':' || members::text, ',' ORDER BY name) AS records FROM tidal.migrations`,
      );
      expect(rows).toEqual([
        { layout: LAYOUT_VERSION, records: '01_email_lower:[],02_email_lower_index:[]' },
      ]);
    } finally {
      await db.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('tidal migrate --as-one refuses', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await seed(db);
  });

  afterAll(() => db?.dispose());

  /** Runs `migrate --as-one` over `files`; expects it refused with bad input, and nothing made. */
  async function refused(files: Record<string, string>): Promise<string> {
    const dir = await releaseFolder(files);
    try {
      const result = await runCli(['migrate', dir, '--as-one', '--url', db.url]);
      expect(result.code, result.stderr).toBe(2);
      const { rows } = await db.query(
        `SELECT string_agg(nspname, ',' ORDER BY nspname) AS schemas FROM pg_namespace
          WHERE nspname = 'tidal' OR nspname LIKE 'public\\_%'`,
      );
      expect(rows).toEqual([{ schemas: null }]);
      return result.stderr.replaceAll(`${dir}/`, '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('an up that reads a column an earlier file renames', async () => {
    const stderr = await refused({
      '01_rename.yaml':
        'operations:\n  - rename_column: {table: users, from: email, to: address}\n',
      '02_domain.yaml':
        "operations:\n  - add_column:\n      table: users\n      up: split_part(address, '@', 2)\n      column: {name: domain, type: text, nullable: true}\n",
    });
    expect(stderr).toContain(
      '02_domain.yaml: operations[0].add_column.up: names column "address" of "users", which 01_rename.yaml: operations[0].rename_column renames; as one version, `up` would read the row as it is before 01_rename.yaml',
    );
  });

  it('a down that reads a column a later file computes anew', async () => {
    const stderr = await refused({
      '01_drop_score.yaml':
        'operations:\n  - drop_column: {table: users, column: score, down: length(email)}\n',
      '02_email_trimmed.yaml':
        'operations:\n  - alter_column:\n      table: users\n      column: email\n      comment: trimmed\n      up: btrim(email)\n      down: upper(email)\n',
    });
    expect(stderr).toContain(
      '01_drop_score.yaml: operations[0].drop_column.down: names column "email" of "users", which 02_email_trimmed.yaml: operations[0].alter_column changes; as one version, `down` would read the row as it is after 02_email_trimmed.yaml',
    );
  });

  it('what one migration cannot hold, saying that the files were planned as one', async () => {
    const stderr = await refused({
      '01_pets.yaml':
        'operations:\n  - create_table:\n      name: pets\n      columns:\n        - {name: id, type: bigint, pk: true}\n        - {name: name, type: text, nullable: true}\n',
      '02_required.yaml':
        'operations:\n  - alter_column: {table: pets, column: name, type: varchar(50)}\n',
    });
    expect(stderr).toContain(
      '02_required.yaml: operations[0].alter_column.table: table "pets" is created by this same migration',
    );
    expect(stderr).toContain(
      '--as-one plans 01_pets.yaml to 02_required.yaml as one migration; migrate them without --as-one',
    );
  });
});
