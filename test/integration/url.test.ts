/** `tidal url [VERSION]`: a URL through which node-postgres sessions select and tag a version. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { versionUrl } from '../../src/client/node-postgres.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type CliResult, runCli } from '../helpers/tidal.js';

let db: TestDatabase;
let dir: string;

const tidal = (...args: string[]): Promise<CliResult> => runCli([...args, '--url', db.url]);

function expectOk(result: CliResult): string {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
  return result.stdout.trim();
}

/** What a session connected through `url` selects and how it is tagged, as the server sees it. */
async function sessionThrough(url: string) {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ path: string; version: string; pid: number }>(
      `SELECT current_setting('search_path') AS path, current_setting('tidal.version') AS version,
              pg_backend_pid() AS pid`,
    );
    const row = rows[0];
    if (!row) throw new Error('no row');
    const seen = await db.query<{ application_name: string }>(
      'SELECT application_name FROM pg_stat_activity WHERE pid = $1',
      [row.pid],
    );
    return {
      searchPath: row.path.replaceAll(' ', ''),
      version: row.version,
      tag: seen.rows[0]?.application_name,
    };
  } finally {
    await client.end();
  }
}

async function migration(name: string, column: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `operations:\n  - add_column:\n      table: people\n      column:\n        name: ${column}\n        type: text\n        nullable: true\n`,
  );
  return file;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tidal-url-'));
  await db.query('CREATE TABLE people (id int PRIMARY KEY, name text)');
});

afterAll(async () => {
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tidal url', () => {
  it('gives the base version before the first migration, with no state schema', async () => {
    const url = expectOk(await tidal('url'));
    expect(expectOk(await tidal('url', 'public'))).toBe(url);
    expect(expectOk(await tidal('latest', 'url'))).toBe(url);
    expect(await sessionThrough(url)).toEqual({
      searchPath: 'public',
      version: 'public',
      tag: 'tidal:public',
    });
    const named = expectOk(await tidal('url', '--application', 'orders'));
    expect((await sessionThrough(named)).tag).toBe('tidal:public:orders');
    const state = await db.query(`SELECT to_regnamespace('tidal') AS s`);
    expect(state.rows[0]?.s).toBeNull();
  });

  it('start prints the new version URL; each live version has its own', async () => {
    const started = await tidal('start', await migration('01_email', 'email'));
    const printed = /connect the new version with: (\S+)/.exec(expectOk(started))?.[1];
    expect(printed).toBeDefined();
    expect(await sessionThrough(printed ?? '')).toEqual({
      searchPath: 'public_01_email,public',
      version: 'public_01_email',
      tag: 'tidal:public_01_email',
    });
    expect(expectOk(await tidal('url'))).toBe(printed);
    expect(expectOk(await tidal('url', '01_email'))).toBe(printed);
    expect(expectOk(await tidal('url', 'public_01_email'))).toBe(printed);
    expect(expectOk(await tidal('latest', 'url'))).toBe(printed);
    // The previous version stays live while the migration is active.
    expect((await sessionThrough(expectOk(await tidal('url', 'public')))).version).toBe('public');
  });

  it('names a version that is not started, and what to run', async () => {
    const unknown = await tidal('url', '09_later');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'version "09_later" is not started on this database: run tidal start migrations/09_later.yaml first',
    );
    expect(unknown.stdout).toBe('');
  });

  it('after complete: the completed version works, the base one was contracted', async () => {
    expectOk(await tidal('complete'));
    expect(await sessionThrough(expectOk(await tidal('url', '01_email')))).toEqual({
      searchPath: 'public_01_email,public',
      version: 'public_01_email',
      tag: 'tidal:public_01_email',
    });
    const base = await tidal('url', 'public');
    expect(base.code).toBe(2);
    expect(base.stderr).toContain(
      'version "public" (the base version, before any migration) was contracted when "01_email" completed: deploy a release built for "01_email" or newer, or run tidal url for the newest',
    );
  });

  it('a completed version older than the newest completed one was contracted', async () => {
    const json = await tidal('start', await migration('02_phone', 'phone'), '--complete', '--json');
    const result = JSON.parse(expectOk(json).split('\n').at(-1) ?? '{}');
    expect(result).toMatchObject({ migration: '02_phone', phase: 'completed' });
    expect((await sessionThrough(result.url)).version).toBe('public_02_phone');
    const old = await tidal('url', '01_email');
    expect(old.code).toBe(2);
    expect(old.stderr).toContain(
      'version "01_email" was contracted when "02_phone" completed: deploy a release built for "02_phone" or newer, or run tidal url for the newest',
    );
  });

  it('a rolled-back version is not live', async () => {
    expectOk(await tidal('start', await migration('03_age', 'age')));
    expectOk(await tidal('rollback'));
    const rolledBack = await tidal('url', '03_age');
    expect(rolledBack.code).toBe(2);
    expect(rolledBack.stderr).toContain('version "03_age" was rolled back');
    expect((await sessionThrough(expectOk(await tidal('url')))).version).toBe('public_02_phone');
  });

  it('odd schema names survive the options a server parses', async () => {
    const odd = 'Odd "v" 2, \\x';
    await db.query(`CREATE SCHEMA "${odd.replaceAll('"', '""')}"`);
    const url = versionUrl(
      { name: odd, schema: 'public', versionSchema: odd, stateSchema: 'tidal', base: false },
      db.url,
    );
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ schemas: string[]; version: string }>(
        `SELECT current_schemas(false)::text[] AS schemas, current_setting('tidal.version') AS version`,
      );
      expect(rows[0]).toEqual({ schemas: [odd, 'public'], version: odd });
    } finally {
      await client.end();
    }
  });
});
