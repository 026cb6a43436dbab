/** The CLI end to end: every command through the built binary, against a real database. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type CliResult, runCli } from '../helpers/tidal.js';

let db: TestDatabase;
let dir: string;
let migrationsDir: string;
/** A database on the same server that does not exist: connecting to it fails. */
let missingUrl: string;

const START = '01_add_email';
const VERSION_SCHEMA = `public_${START}`;

/** Runs the CLI against the test database through --url. */
function tidal(...args: string[]): Promise<CliResult> {
  return runCli([...args, '--url', db.url]);
}

function expectOk(result: CliResult): void {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
}

/** The single JSON document of a --json command (events, if any, come before it). */
function jsonOf(result: CliResult): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines.at(-1) ?? '');
}

async function columnsOf(schema: string, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [`"${schema}"."${table}"`],
  );
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  db = await createTestDatabase();
  const url = new URL(db.url);
  url.pathname = `/${db.name}_does_not_exist`;
  missingUrl = url.toString();
  dir = await mkdtemp(join(tmpdir(), 'tidal-cli-'));
  migrationsDir = join(dir, 'migrations');
  await mkdir(migrationsDir);
  await db.query('CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL)');
  await db.query(`INSERT INTO people SELECT g, 'person' || g FROM generate_series(1, 50) g`);
  await writeFile(
    join(dir, `${START}.yaml`),
    `operations:
  - add_column:
      table: people
      up: name || '@example.com'
      column:
        name: email
        type: text
        nullable: true
`,
  );
  await writeFile(
    join(migrationsDir, '10_create_orders.yaml'),
    `operations:
  - create_table:
      name: orders
      columns:
        - name: id
          type: integer
          pk: true
        - name: item
          type: text
`,
  );
  await writeFile(
    join(migrationsDir, '11_add_quantity.yaml'),
    `operations:
  - add_column:
      table: orders
      column:
        name: quantity
        type: integer
        default: "1"
`,
  );
  await writeFile(
    join(migrationsDir, '12_rename_item.yaml'),
    `operations:
  - rename_column:
      table: orders
      from: item
      to: product
`,
  );
});

afterAll(async () => {
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tidal CLI', () => {
  it('status and latest before anything was applied', async () => {
    const status = await tidal('status', '--json');
    expectOk(status);
    expect(jsonOf(status)).toMatchObject({ schema: 'public', active: null, latest: null });
    const latest = await tidal('latest', 'schema');
    expect(latest.code).not.toBe(0);
    expect(latest.stderr).toMatch(/no migration has been applied/);
    expect(latest.stdout).toBe('');
  });

  it('init creates the state schema, and is idempotent', async () => {
    const first = await tidal('init');
    expectOk(first);
    expect(first.stdout).toMatch(/state schema "tidal" at layout \d+/);
    const { rows } = await db.query<{ version: number }>('SELECT version FROM tidal.layout');
    expect(rows).toHaveLength(1);
    const layout = rows[0]?.version;
    expect(layout).toBeGreaterThanOrEqual(1);

    const second = await tidal('init');
    expectOk(second);
    expect(second.stdout).toMatch(/up to date/);
    const third = await tidal('init', '--json');
    expectOk(third);
    expect(jsonOf(third)).toEqual({ applied: [] });
    const after = await db.query<{ version: number }>('SELECT version FROM tidal.layout');
    expect(after.rows).toEqual([{ version: layout }]);
  });

  it('start FILE expands and leaves the migration active', async () => {
    const result = await tidal('start', join(dir, `${START}.yaml`));
    expectOk(result);
    expect(result.stdout).toContain(START);
    expect(result.stdout).toContain(VERSION_SCHEMA);
    // How the change is made, before the phases run.
    expect(result.stderr).toContain(
      `${START}: operations[0].add_column: new column filled for existing rows by the backfill of "people"\n${START}: expand`,
    );
    // The old shape is untouched under its final names; the new column is temporary.
    expect(await columnsOf('public', 'people')).not.toContain('email');
    expect(await columnsOf(VERSION_SCHEMA, 'people')).toEqual(['id', 'name', 'email']);
  });

  it('status shows the active migration, as text and as JSON', async () => {
    const human = await tidal('status');
    expectOk(human);
    expect(human.stdout).toContain(START);
    expect(human.stdout).toMatch(/active/);

    const json = await tidal('status', '--json');
    expectOk(json);
    const status = jsonOf(json);
    expect(status.active).toMatchObject({
      name: START,
      phase: 'active',
      versionSchema: VERSION_SCHEMA,
      lastError: null,
    });
  });

  it('latest schema|migration|url', async () => {
    const schema = await tidal('latest', 'schema');
    expectOk(schema);
    expect(schema.stdout.trim()).toBe(VERSION_SCHEMA);
    const migration = await tidal('latest', 'migration');
    expectOk(migration);
    expect(migration.stdout.trim()).toBe(START);
    const json = await tidal('latest', 'schema', '--json');
    expectOk(json);
    expect(jsonOf(json)).toEqual({ schema: VERSION_SCHEMA });

    const url = await tidal('latest', 'url');
    expectOk(url);
    const versionUrl = url.stdout.trim();
    expect(versionUrl).not.toContain('\n');
    const client = new pg.Client({ connectionString: versionUrl });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ schemas: string[]; db: string }>(
        'SELECT current_schemas(false)::text[] AS schemas, current_database() AS db',
      );
      expect(rows[0]?.db).toBe(db.name);
      expect(rows[0]?.schemas[0]).toBe(VERSION_SCHEMA);
      // Unqualified names are the new version's views, backfilled.
      const people = await client.query('SELECT id, name, email FROM people ORDER BY id LIMIT 2');
      expect(people.rows).toEqual([
        { id: 1, name: 'person1', email: 'person1@example.com' },
        { id: 2, name: 'person2', email: 'person2@example.com' },
      ]);
      // A write through the new version shows up in the table.
      await client.query(`INSERT INTO people (id, name, email) VALUES (100, 'new', 'new@x')`);
    } finally {
      await client.end();
    }
    const { rows } = await db.query(`SELECT name FROM public.people WHERE id = 100`);
    expect(rows).toEqual([{ name: 'new' }]);
  });

  it('complete contracts; complete and rollback with nothing active fail with exit 1', async () => {
    const complete = await tidal('complete');
    expectOk(complete);
    expect(complete.stdout).toContain(START);
    expect(await columnsOf('public', 'people')).toEqual(['id', 'name', 'email']);
    const { rows } = await db.query(
      'SELECT email FROM public.people WHERE id IN (3, 100) ORDER BY id',
    );
    expect(rows).toEqual([{ email: 'person3@example.com' }, { email: 'new@x' }]);

    const status = jsonOf(await tidal('status', '--json'));
    expect(status.active).toBeNull();
    expect(status.latest).toMatchObject({ name: START, versionSchema: VERSION_SCHEMA });
    expect(status.applied).toBe(1);

    const rollback = await tidal('rollback');
    expect(rollback.code).toBe(1);
    expect(rollback.stderr).toMatch(/no migration is active/);
    expect(rollback.stderr).toMatch(/nothing to roll back/);
    expect(rollback.stderr).not.toMatch(/^\s+at /m);
    const rollbackJson = await tidal('rollback', '--json');
    expect(rollbackJson.code).toBe(1);
    expect(jsonOf(rollbackJson)).toEqual({
      error: expect.stringMatching(/no migration is active/),
      exitCode: 1,
    });

    const again = await tidal('complete');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no migration is active/);
  });

  it('migrate DIR --complete applies every file in order', async () => {
    const result = await tidal('migrate', migrationsDir, '--complete');
    expectOk(result);
    expect(result.stdout).toMatch(/applied 10_create_orders, 11_add_quantity, 12_rename_item/);
    expect(await columnsOf('public', 'orders')).toEqual(['id', 'product', 'quantity']);

    const status = jsonOf(await tidal('status', '--json'));
    expect(status.active).toBeNull();
    expect(status.applied).toBe(4);
    expect(status.latest).toMatchObject({ name: '12_rename_item' });
    const latest = await tidal('latest', 'migration');
    expect(latest.stdout.trim()).toBe('12_rename_item');
    const { rows } = await db.query<{ name: string; phase: string }>(
      `SELECT name, phase FROM tidal.migrations ORDER BY name`,
    );
    expect(rows).toEqual(
      [
        { name: START, phase: 'completed' },
        { name: '10_create_orders', phase: 'completed' },
        { name: '11_add_quantity', phase: 'completed' },
        { name: '12_rename_item', phase: 'completed' },
      ].sort((a, b) => (a.name < b.name ? -1 : 1)),
    );
    // The latest version schema shows the final shape.
    await db.query(`INSERT INTO public_12_rename_item.orders (id, product) VALUES (1, 'tea')`);
    const orders = await db.query('SELECT id, product, quantity FROM public.orders');
    expect(orders.rows).toEqual([{ id: 1, product: 'tea', quantity: 1 }]);
  });

  it('migrate again has nothing to do', async () => {
    const human = await tidal('migrate', migrationsDir);
    expectOk(human);
    expect(human.stdout).toMatch(/nothing to migrate/);
    const json = await tidal('migrate', migrationsDir, '--complete', '--json');
    expectOk(json);
    expect(jsonOf(json)).toEqual({ applied: [], active: null });
    expect(jsonOf(await tidal('status', '--json')).applied).toBe(4);
  });

  it('migrate fails with exit 2 naming a file changed after it was applied', async () => {
    const file = join(migrationsDir, '11_add_quantity.yaml');
    await writeFile(
      file,
      `operations:
  - add_column:
      table: orders
      column:
        name: quantity
        type: integer
        default: "2"
`,
    );
    const result = await tidal('migrate', migrationsDir);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toMatch(/different content|changed|checksum/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(jsonOf(await tidal('status', '--json')).applied).toBe(4);
  });
});

describe('connection selection: --url, then TIDAL_DATABASE_URL, then DATABASE_URL', () => {
  /** `latest migration` succeeds only against the test database. */
  async function latestWith(
    args: string[],
    env: Record<string, string | undefined>,
  ): Promise<CliResult> {
    return runCli(['latest', 'migration', ...args], env);
  }

  it('--url wins over both variables', async () => {
    const result = await latestWith(['--url', db.url], {
      TIDAL_DATABASE_URL: missingUrl,
      DATABASE_URL: missingUrl,
    });
    expectOk(result);
    expect(result.stdout.trim()).toBe('12_rename_item');
  });

  it('TIDAL_DATABASE_URL wins over DATABASE_URL', async () => {
    const result = await latestWith([], { TIDAL_DATABASE_URL: db.url, DATABASE_URL: missingUrl });
    expectOk(result);
    expect(result.stdout.trim()).toBe('12_rename_item');
  });

  it('DATABASE_URL is used when nothing else is given', async () => {
    const result = await latestWith([], { DATABASE_URL: db.url });
    expectOk(result);
    expect(result.stdout.trim()).toBe('12_rename_item');
  });

  it('the higher-precedence setting is really the one used', async () => {
    const flag = await latestWith(['--url', missingUrl], {
      TIDAL_DATABASE_URL: db.url,
      DATABASE_URL: db.url,
    });
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/cannot connect/);
    expect(flag.stderr).toContain(`${db.name}_does_not_exist`);
    expect(flag.stderr).not.toMatch(/^\s+at /m);

    const variable = await latestWith([], { TIDAL_DATABASE_URL: missingUrl, DATABASE_URL: db.url });
    expect(variable.code).toBe(1);
    expect(variable.stderr).toContain(`${db.name}_does_not_exist`);
  });

  it('latest url keeps the connection it was given and selects the version', async () => {
    const result = await runCli(['latest', 'url'], { TIDAL_DATABASE_URL: db.url });
    expectOk(result);
    const client = new pg.Client({ connectionString: result.stdout.trim() });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ schemas: string[]; db: string }>(
        'SELECT current_schemas(false)::text[] AS schemas, current_database() AS db',
      );
      expect(rows[0]).toEqual({ schemas: ['public_12_rename_item', 'public'], db: db.name });
      const orders = await client.query('SELECT product, quantity FROM orders');
      expect(orders.rows).toEqual([{ product: 'tea', quantity: 1 }]);
    } finally {
      await client.end();
    }
  });
});
