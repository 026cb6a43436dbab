/**
 * Least privilege: a table owner who is not a superuser runs tidal, read-only commands need only
 * read access, and the application's roles keep their grants through version schemas and
 * complete. Missing privileges are named before the first statement.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OperationError } from '../../src/errors.js';
import { ident, literal } from '../../src/pg/quote.js';
import { snapshotCatalog } from '../helpers/catalog.js';
import { rows } from '../helpers/cycle.js';
import {
  connectAdmin,
  createTestDatabase,
  type TestDatabase,
  testServerMajor,
} from '../helpers/db.js';
import { migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';

const suffix = randomBytes(4).toString('hex');
const PASSWORD = 'tidal-test';
/** Roles of the whole server: named per run so test files and runs never share one. */
const roles = {
  owner: `tidal_owner_${suffix}`,
  app: `tidal_app_${suffix}`,
  columns: `tidal_columns_${suffix}`,
  reader: `tidal_reader_${suffix}`,
};

let db: TestDatabase;

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

async function connectAs(role: string, searchPath?: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlAs(role) });
  client.on('error', () => {});
  await client.connect();
  if (searchPath) await client.query(`SET search_path = ${searchPath}`);
  return client;
}

beforeAll(async () => {
  const admin = await connectAdmin();
  try {
    for (const role of Object.values(roles))
      await admin.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal(PASSWORD)}`);
  } finally {
    await admin.end();
  }
});

afterAll(async () => {
  const admin = await connectAdmin();
  try {
    for (const role of Object.values(roles))
      await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`);
  } finally {
    await admin.end();
  }
});

beforeEach(async () => {
  db = await createTestDatabase();
  await db.query(`GRANT CREATE ON DATABASE ${ident(db.name)} TO ${ident(roles.owner)}`);
  await db.query(`GRANT CREATE ON SCHEMA public TO ${ident(roles.owner)}`);
  const owner = await connectAs(roles.owner);
  try {
    await owner.query(`CREATE TABLE users (id int PRIMARY KEY, name text, age int)`);
    await owner.query(`INSERT INTO users SELECT g, 'user ' || g, g FROM generate_series(1, 10) g`);
    await owner.query(`GRANT SELECT, INSERT, UPDATE ON users TO ${ident(roles.app)}`);
    await owner.query(`GRANT SELECT (id, age), UPDATE (age) ON users TO ${ident(roles.columns)}`);
  } finally {
    await owner.end();
  }
});

afterEach(async () => {
  await db.dispose();
});

const renameAndRetype = `operations:
  - rename_column:
      table: users
      from: name
      to: display_name
  - alter_column:
      table: users
      column: age
      type: numeric
      up: age
      down: age::int
`;

describe('a table owner who is not a superuser', () => {
  it('runs start and complete; the application roles keep their table and column grants through the version schema and after complete', async () => {
    const migration = await migrationFromYaml('v2', renameAndRetype);
    await withTidal(urlAs(roles.owner), (t) => t.start(migration));

    // The application role reaches the new version: USAGE on the schema, privileges on the view.
    const app = await connectAs(roles.app, 'public_v2, public');
    try {
      expect((await app.query('SELECT current_schemas(false)::text[] AS s')).rows[0].s).toEqual([
        'public_v2',
        'public',
      ]);
      await app.query(`UPDATE users SET display_name = 'renamed', age = 41.5 WHERE id = 1`);
      await app.query(`INSERT INTO users (id, display_name, age) VALUES (11, 'new', 11)`);
      expect(await rows(app, 'SELECT display_name, age::text FROM users WHERE id = 1')).toEqual([
        { display_name: 'renamed', age: '41.5' },
      ]);
    } finally {
      await app.end();
    }
    // A role with column grants only: the view's columns under their new names.
    const columns = await connectAs(roles.columns, 'public_v2, public');
    try {
      await columns.query(`UPDATE users SET age = 7 WHERE id = 2`);
      expect(await rows(columns, 'SELECT id, age::text FROM users WHERE id = 2')).toEqual([
        { id: 2, age: '7' },
      ]);
      await expect(columns.query('SELECT display_name FROM users')).rejects.toThrow(
        /permission denied/,
      );
    } finally {
      await columns.end();
    }

    await withTidal(urlAs(roles.owner), (t) => t.complete());
    const { rows: privileges } = await db.query<{ select: boolean; update: boolean }>(
      `SELECT has_column_privilege($1, 'public.users', 'age', 'SELECT') AS select,
              has_column_privilege($1, 'public.users', 'age', 'UPDATE') AS update`,
      [roles.columns],
    );
    expect(privileges).toEqual([{ select: true, update: true }]);
    const columnsAfter = await connectAs(roles.columns, 'public_v2, public');
    try {
      await columnsAfter.query(`UPDATE users SET age = 8.5 WHERE id = 2`);
      expect(await rows(columnsAfter, 'SELECT age::text FROM users WHERE id = 2')).toEqual([
        { age: '8.5' },
      ]);
    } finally {
      await columnsAfter.end();
    }
  });

  it('a role without CREATE on the database can run status once the state schema exists', async () => {
    await withTidal(urlAs(roles.owner), async (t) =>
      t.start(await migrationFromYaml('v2', renameAndRetype)),
    );
    await db.query(`GRANT USAGE ON SCHEMA tidal TO ${ident(roles.reader)}`);
    await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA tidal TO ${ident(roles.reader)}`);
    const result = await runCli(['--url', urlAs(roles.reader), 'status', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).active).toMatchObject({ name: 'v2', phase: 'active' });
  });

  it('a role that cannot create the state schema is told which statement needs what', async () => {
    await db.query(`REVOKE CREATE ON DATABASE ${ident(db.name)} FROM ${ident(roles.owner)}`);
    const result = await runCli(['--url', urlAs(roles.owner), 'init']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /cannot create tidal's state schema "tidal": permission denied.*\n\s+statement: CREATE SCHEMA "tidal"\n\s+it needs CREATE on the database/,
    );
  });
});

/** A migration that changes `users` and a second table, `other`. */
const ADD_TO_BOTH = `operations:
  - add_column:
      table: users
      column:
        name: nick
        type: text
        nullable: true
  - add_column:
      table: other
      column:
        name: extra
        type: text
        nullable: true
      up: note
`;

describe('privileges checked before the first statement', () => {
  it('a table the role does not own: start refuses naming it, and nothing runs', async () => {
    await db.query(`CREATE TABLE other (id int PRIMARY KEY, note text)`);
    const migration = await migrationFromYaml('both', ADD_TO_BOTH);
    const before = await snapshotCatalog(db.pool);
    const error = await withTidal(urlAs(roles.owner), (t) => t.start(migration)).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(
      /nothing was run.*\n\s+- "public"\."other" is owned by "postgres", and "tidal_owner_\w+" is not a member of that role/,
    );
    expect(await snapshotCatalog(db.pool)).toEqual(before);
    // plan says so too.
    const { report } = await withTidal(urlAs(roles.owner), (t) => t.plan(migration));
    expect(report.missingPrivileges).toEqual([
      expect.stringMatching(/"public"\."other" is owned by "postgres"/),
    ]);
  });

  it('a failed rollback records its error, and running it again finishes', async () => {
    await db.query(`CREATE TABLE other (id int PRIMARY KEY, note text)`);
    await db.query(`ALTER TABLE other OWNER TO ${ident(roles.owner)}`);
    const migration = await migrationFromYaml('both', ADD_TO_BOTH);
    const before = await snapshotCatalog(db.pool);
    await withTidal(urlAs(roles.owner), (t) => t.start(migration));
    // Someone takes one table away from the role tidal runs as.
    await db.query(`ALTER TABLE other OWNER TO postgres`);
    const error = await withTidal(urlAs(roles.owner), (t) => t.rollback()).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/must be owner of (table|relation) other/);
    expect((error as Error).message).toMatch(/run `tidal rollback` again to finish/);
    const status = await withTidal(db.url, (t) => t.status());
    expect(status.active).toMatchObject({ phase: 'rolling_back' });
    expect(status.active?.lastError).toMatch(/must be owner of (table|relation) other/);
    await db.query(`ALTER TABLE other OWNER TO ${ident(roles.owner)}`);
    await withTidal(urlAs(roles.owner), (t) => t.rollback());
    expect(await snapshotCatalog(db.pool)).toEqual(before);
  });
});

const major = await testServerMajor();

describe('row-level security', () => {
  // Views run as their invoker from PostgreSQL 15 (security_invoker); before, as their owner.
  it.skipIf(major < 15)(
    `applies through the new version${major < 15 ? ` (skipped: PostgreSQL ${major} has no security_invoker views)` : ''}`,
    async () => {
      const owner = await connectAs(roles.owner);
      try {
        await owner.query(`ALTER TABLE users ENABLE ROW LEVEL SECURITY`);
        await owner.query(
          `CREATE POLICY first_five ON users TO ${ident(roles.app)} USING (id <= 5)`,
        );
      } finally {
        await owner.end();
      }
      await withTidal(urlAs(roles.owner), async (t) =>
        t.start(await migrationFromYaml('v2', renameAndRetype)),
      );
      const app = await connectAs(roles.app, 'public_v2, public');
      try {
        expect(await rows(app, 'SELECT count(*)::int AS n FROM users')).toEqual([{ n: 5 }]);
      } finally {
        await app.end();
      }
    },
  );
});
