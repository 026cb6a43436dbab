/**
 * What each version sees and must do: `tidal plan` and `tidal start` say it for the migration at
 * hand, and what they say is true of the database.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Obligation } from '../../src/planner/obligations.js';
import type { PlanReport } from '../../src/planner/plan-report.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type CliResult, migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';

const MIGRATION = `operations:
  - add_column:
      table: users
      up: "'unknown'"
      column: { name: email, type: text, nullable: false }
  - alter_column:
      table: users
      column: age
      type: bigint
  - drop_column:
      table: users
      column: nick
  - rename_table:
      from: orders
      to: purchases
  - drop_table:
      name: legacy
`;

let db: TestDatabase;

beforeEach(async () => {
  db = await createTestDatabase();
  await db.query(`CREATE TABLE users (id int PRIMARY KEY, age int, name text, nick text)`);
  await db.query(`CREATE TABLE orders (id int PRIMARY KEY, total int)`);
  await db.query(`CREATE TABLE legacy (id int)`);
  await db.query(`INSERT INTO users VALUES (1, 30, 'ann', 'a')`);
});

afterEach(async () => {
  await db.dispose();
});

function expectOk(result: CliResult): void {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
}

const summary = (list: Obligation[]) =>
  list.map((o) => [o.kind, o.concerns, o.table, o.column] as const);

/** What this migration asks, in the order plan and start say it. */
const EXPECTED = [
  ['select-version', 'new version', null, null],
  ['temporary-columns', 'old version', 'users', null],
  ['write-attribution', 'new version', 'users', null],
  ['not-null', 'new version', 'users', 'email'],
  ['type-fit', 'new version', 'users', 'age'],
  ['old-table-name', 'new version', 'orders', null],
  ['old-table-name', 'new version', 'legacy', null],
  ['column-order', 'new version', 'users', 'age'],
];

async function migrationFile(): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'tidal-obligations-')), 'v2.yaml');
  await writeFile(file, MIGRATION);
  return file;
}

describe('obligations', () => {
  it('tidal plan lists the ones of the migration at hand, as text and as JSON', async () => {
    const file = await migrationFile();
    const json = await runCli(['plan', file, '--json', '--url', db.url]);
    expectOk(json);
    const report = JSON.parse(json.stdout.trim().split('\n').at(-1) ?? '') as PlanReport;
    expect(summary(report.obligations)).toEqual(EXPECTED);
    const sentence = (kind: Obligation['kind']) =>
      report.obligations.find((o) => o.kind === kind)?.sentence;
    expect(sentence('temporary-columns')).toContain(
      'tidal\'s temporary columns "_tidal_new_email", "_tidal_new_age" and "_tidal_needs_backfill"',
    );
    expect(sentence('type-fit')).toContain('"users"."age" (bigint)');
    expect(sentence('write-attribution')).toContain(
      '`down` does not fill the old version\'s "age"',
    );

    const text = await runCli(['plan', file, '--url', db.url]);
    expectOk(text);
    expect(text.stdout).toContain('what each version sees and must do while "v2" is active');
    for (const o of report.obligations)
      expect(text.stdout).toContain(`  for the ${o.concerns}: ${o.sentence}\n`);
  });

  it('tidal start prints them once the migration is active, as text and as JSON events', async () => {
    const file = await migrationFile();
    const text = await runCli(['start', file, '--url', db.url]);
    expectOk(text);
    const after = text.stderr.slice(text.stderr.indexOf('v2: active\n'));
    expect(after).toContain('v2: for the old version: Until complete or rollback, SELECT *');
    expect(after).toContain(
      'v2: for the new version: Until complete, the new version must give "users"."email" a value',
    );
    expectOk(await runCli(['rollback', '--url', db.url]));

    const json = await runCli(['start', file, '--json', '--url', db.url]);
    expectOk(json);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event?: string } & Obligation);
    const obligations = events.filter((e) => e.event === 'obligation');
    expect(summary(obligations)).toEqual(EXPECTED);
    // After the phase that says the migration is active, before the result.
    const active = events.findIndex(
      (e) => e.event === 'phase' && 'phase' in e && e.phase === 'active',
    );
    expect(events.indexOf(obligations[0] as (typeof events)[number])).toBe(active + 1);
  });

  it('a migration that only creates a table asks nothing of either version', async () => {
    const loaded = await migrationFromYaml(
      'audit',
      `operations:
  - create_table:
      name: audit
      columns:
        - { name: id, type: int, pk: true }
  - create_index:
      name: users_name
      table: users
      columns:
        - column: name
`,
    );
    const { report } = await withTidal(db.url, (t) => t.plan(loaded));
    expect(report.obligations).toEqual([]);
  });
});

describe('what the obligations say is true', () => {
  it('while active, SELECT * and RETURNING * on the plain table return the temporary columns', async () => {
    const loaded = await migrationFromYaml('v2', MIGRATION);
    await withTidal(db.url, (t) => t.start(loaded));
    const select = await db.query('SELECT * FROM public.users');
    expect(select.fields.map((f) => f.name)).toEqual([
      'id',
      'age',
      'name',
      'nick',
      '_tidal_new_email',
      '_tidal_new_age',
      '_tidal_needs_backfill',
    ]);
    const returning = await db.query(
      `INSERT INTO public.users (id, age, name) VALUES (2, 40, 'bob') RETURNING *`,
    );
    expect(Object.keys(returning.rows[0] ?? {})).toContain('_tidal_new_age');
    // The new version's view shows none of them.
    const view = await db.query('SELECT * FROM public_v2.users');
    expect(view.fields.map((f) => f.name)).toEqual(['id', 'age', 'name', 'email']);
  });

  it('after complete, the copied column is last: INSERT ... VALUES in the old order fails', async () => {
    const loaded = await migrationFromYaml('v2', MIGRATION);
    await withTidal(db.url, async (t) => {
      await t.start(loaded);
      await t.complete();
    });
    const { fields } = await db.query('SELECT * FROM public.users');
    expect(fields.map((f) => f.name)).toEqual(['id', 'name', 'email', 'age']);
    // id, age, name, email as the new version's view orders them.
    await expect(
      db.query(`INSERT INTO public.users VALUES (2, 40, 'bob', 'bob@example.com')`),
    ).rejects.toThrow(/invalid input syntax for type bigint: "bob@example.com"/);
    // The view keeps its order.
    await db.query(`INSERT INTO public_v2.users VALUES (3, 50, 'cy', 'cy@example.com')`);
    const row = await db.query('SELECT age, email FROM public.users WHERE id = 3');
    expect(row.rows).toEqual([{ age: '50', email: 'cy@example.com' }]);
  });

  it('a write through the new version named schema-qualified, from a session that does not select it, counts as the old version', async () => {
    await db.query(`CREATE TABLE things (id int PRIMARY KEY, legacy text, v int)`);
    const loaded = await migrationFromYaml(
      'v3',
      `operations:
  - drop_column:
      table: things
      column: legacy
      down: "'from down'"
`,
    );
    const { report } = await withTidal(db.url, (t) => t.plan(loaded));
    expect(report.obligations.find((o) => o.kind === 'write-attribution')?.sentence).toContain(
      '`down` does not fill the old version\'s "legacy"',
    );
    await withTidal(db.url, (t) => t.start(loaded));
    await db.query(`INSERT INTO public_v3.things (id, v) VALUES (1, 1)`);
    const selected = await db.client();
    await selected.query(`SET tidal.version = 'v3'`);
    await selected.query(`INSERT INTO public_v3.things (id, v) VALUES (2, 2)`);
    const { rows } = await db.query('SELECT id, legacy FROM public.things ORDER BY id');
    expect(rows).toEqual([
      { id: 1, legacy: null },
      { id: 2, legacy: 'from down' },
    ]);
  });
});
