/**
 * Sessions per version: `tidal status` lists them; complete and rollback refuse while tagged
 * sessions of the version they remove are connected, wait for them with --wait, go on with
 * --force; untagged sessions are listed, never counted.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type CliResult, runCli, startCli } from '../helpers/tidal.js';
import { until } from '../helpers/wait.js';

let db: TestDatabase;
let dir: string;
const open = new Set<pg.Client>();

const tidal = (...args: string[]): Promise<CliResult> => runCli([...args, '--url', db.url]);

function expectOk(result: CliResult): string {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
  return result.stdout.trim();
}

/** A session connected through the URL `tidal url VERSION --application NAME` prints. */
async function versionSession(version: string, application: string) {
  const url = expectOk(await tidal('url', version, '--application', application));
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  open.add(client);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { client, pid: rows[0]?.pid as number };
}

async function close(client: pg.Client): Promise<void> {
  open.delete(client);
  await client.end();
}

async function start(name: string, column: string): Promise<void> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `operations:\n  - add_column:\n      table: people\n      column:\n        name: ${column}\n        type: text\n        nullable: true\n`,
  );
  expectOk(await tidal('start', file));
}

async function activeMigration(): Promise<{ name: string; phase: string } | null> {
  return JSON.parse(expectOk(await tidal('status', '--json'))).active;
}

let untaggedPid: number;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tidal-sessions-'));
  await db.query('CREATE TABLE people (id int PRIMARY KEY, name text)');
  const untagged = await db.client('untagged-app');
  untaggedPid = (await untagged.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
    ?.pid as number;
});

afterAll(async () => {
  for (const client of open) await client.end().catch(() => {});
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('sessions per version', () => {
  let old: { client: pg.Client; pid: number };
  let next: { client: pg.Client; pid: number };

  it('status lists the sessions of each version and the untagged ones', async () => {
    await start('01_email', 'email');
    old = await versionSession('public', 'old-release');
    next = await versionSession('01_email', 'new-release');
    const status = JSON.parse(expectOk(await tidal('status', '--json')));
    expect(status.sessions.versions).toMatchObject([
      {
        versionSchema: 'public',
        name: 'public',
        live: true,
        count: 1,
        applications: ['old-release'],
        sessions: [{ pid: old.pid, application: 'old-release' }],
      },
      {
        versionSchema: 'public_01_email',
        name: '01_email',
        live: true,
        count: 1,
        applications: ['new-release'],
        sessions: [{ pid: next.pid, application: 'new-release' }],
      },
    ]);
    const [first] = status.sessions.versions;
    expect(first.clientAddresses).toEqual([first.sessions[0].clientAddress ?? 'local']);
    expect(first.oldestSince).toBe(first.sessions[0].since);
    expect(status.sessions.untagged.applications).toContain('untagged-app');
    expect(status.sessions.untagged.sessions.map((s: { pid: number }) => s.pid)).toContain(
      untaggedPid,
    );
    // tidal's own session (the status command's) is not listed.
    expect(status.sessions.untagged.applications).not.toContain('tidal');

    const text = expectOk(await tidal('status'));
    expect(text).toMatch(
      /version "public" \(schema public\): 1 \(old-release; from [^;]+; oldest since /,
    );
    expect(text).toMatch(/version "01_email" \(schema public_01_email\): 1 \(new-release;/);
    expect(text).toMatch(/untagged: \d+ \([^)]*untagged-app/);
    expect(text).toContain('tidal url VERSION');
  });

  it('complete refuses while the previous version has sessions, naming them; nothing changes', async () => {
    const refused = await tidal('complete');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'complete of "01_email" refused, nothing was changed: 1 session(s) of version "public"',
    );
    expect(refused.stderr).toContain(`pid ${old.pid} "old-release" from `);
    expect(refused.stderr).toContain('--wait');
    expect(refused.stderr).toContain('--force');
    // The new version's session does not hold complete up; the untagged one is only listed.
    expect(refused.stderr).not.toContain(`pid ${next.pid} `);
    expect(refused.stderr).toContain(`untagged session(s) connected, not counted`);
    expect(refused.stderr).toContain(`pid ${untaggedPid} "untagged-app"`);
    expect(await activeMigration()).toMatchObject({ name: '01_email', phase: 'active' });
    const columns = await db.query(
      `SELECT 1 FROM pg_attribute WHERE attrelid = 'people'::regclass AND attname = 'email'`,
    );
    expect(columns.rows).toEqual([]);
  });

  it('complete --wait 1s fails while the session stays', async () => {
    const waited = await tidal('complete', '--wait', '1s');
    expect(waited.code).toBe(1);
    expect(waited.stderr).toContain('waiting for 1 session(s) of version "public" to disconnect');
    expect(waited.stderr).toContain('refused after waiting 1s, nothing was changed');
    expect(waited.stderr).toContain(`pid ${old.pid} "old-release"`);
    expect(await activeMigration()).toMatchObject({ name: '01_email', phase: 'active' });
  });

  it('complete --wait goes on once the session disconnects', async () => {
    const running = startCli(['complete', '--wait', '--url', db.url]);
    await until(
      'complete waits for the old release',
      async () => running.stderr().includes(`pid ${old.pid} "old-release"`),
      60_000,
    );
    expect(running.stderr()).toMatch(
      /waiting for 1 session\(s\) of version "public" to disconnect \(1[45]m\d+s left\)/,
    );
    await close(old.client);
    expect(await running.exited).toBe(0);
    expect(running.stderr()).toContain('no session of version "public" is connected any more');
    expect(await activeMigration()).toBeNull();
    const status = JSON.parse(expectOk(await tidal('status', '--json')));
    expect(status.latest).toMatchObject({ name: '01_email' });
  });

  it('complete --force goes on while sessions of the previous version are connected', async () => {
    await start('02_phone', 'phone');
    // `next` used 01_email, now the previous version.
    const refused = await tidal('complete');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`pid ${next.pid} "new-release"`);
    const forced = await tidal('complete', '--force');
    expectOk(forced);
    expect(forced.stderr).toContain('going on (--force) with 1 session(s) of version "01_email"');
    expect(forced.stderr).toContain(`pid ${next.pid} "new-release"`);
    expect(await activeMigration()).toBeNull();
    // Its version was contracted: status names it as not live.
    const status = JSON.parse(expectOk(await tidal('status', '--json')));
    expect(status.sessions.versions).toContainEqual(
      expect.objectContaining({ versionSchema: 'public_01_email', live: false, count: 1 }),
    );
    await close(next.client);
  });

  it('untagged sessions do not block complete, and are listed', async () => {
    await start('03_age', 'age');
    const completed = await tidal('complete');
    expectOk(completed);
    expect(completed.stderr).toContain(`pid ${untaggedPid} "untagged-app"`);
    expect(completed.stderr).toContain('tidal url VERSION');
    expect(await activeMigration()).toBeNull();
  });

  it("rollback refuses while the new version has sessions, and goes on once they're gone", async () => {
    await start('04_nick', 'nick');
    const v4 = await versionSession('04_nick', 'v4');
    // A session of the previous version does not hold rollback up.
    const v3 = await versionSession('03_age', 'v3');
    const refused = await tidal('rollback');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'rollback of "04_nick" refused, nothing was changed: 1 session(s) of version "04_nick"',
    );
    expect(refused.stderr).toContain(`pid ${v4.pid} "v4"`);
    expect(refused.stderr).not.toContain(`pid ${v3.pid} `);
    expect(refused.stderr).toContain('deploy the release built for "03_age" in their place first');
    expect(await activeMigration()).toMatchObject({ name: '04_nick', phase: 'active' });
    await close(v4.client);
    expectOk(await tidal('rollback'));
    expect(await activeMigration()).toBeNull();
    await close(v3.client);
  });

  it("start --complete and migrate see to the previous version's sessions as complete does", async () => {
    const v3 = await versionSession('03_age', 'v3');
    const file = join(dir, '05_city.yaml');
    await writeFile(
      file,
      'operations:\n  - add_column:\n      table: people\n      column:\n        name: city\n        type: text\n        nullable: true\n',
    );
    const refused = await tidal('start', file, '--complete');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'complete of "05_city" refused, nothing was changed: 1 session(s) of version "03_age"',
    );
    expect(refused.stderr).toContain(`pid ${v3.pid} "v3"`);
    // Start ran; only its complete waits for the old release.
    expect(await activeMigration()).toMatchObject({ name: '05_city', phase: 'active' });

    // The rolled-back 04_nick is not part of this folder's history.
    await rm(join(dir, '04_nick.yaml'));
    const migrateRefused = await tidal('migrate', dir, '--complete');
    expect(migrateRefused.code).toBe(1);
    expect(migrateRefused.stderr).toContain('complete of "05_city" refused');
    expect(await activeMigration()).toMatchObject({ name: '05_city', phase: 'active' });

    expectOk(await tidal('migrate', dir, '--complete', '--force'));
    expect(await activeMigration()).toBeNull();
    await close(v3.client);
  });
});
