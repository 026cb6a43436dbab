/**
 * `tidal dashboard` during a real migration: the page in a real browser (Debian's chromium
 * through playwright-core) shows progress that moves, its pause pauses the backfill and its
 * resume resumes it; requests without the token, with controls off, or for another host are
 * refused; the command prints its address and token and stops on SIGINT.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDashboard, serveDashboard } from '../../src/dashboard/server.js';
import { Tidal, type WatchSnapshot } from '../../src/tidal.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli, startCli } from '../helpers/tidal.js';
import { sleep, until } from '../helpers/wait.js';

const CHROMIUM = process.env.TIDAL_CHROMIUM ?? '/usr/bin/chromium';
/** CI installs chromium and sets this: there, a missing browser fails the run. */
const browserRequired = process.env.TIDAL_REQUIRE_BROWSER === '1';
const hasBrowser = existsSync(CHROMIUM);
if (!hasBrowser && !browserRequired) {
  console.warn(
    `dashboard browser test skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set TIDAL_CHROMIUM)`,
  );
}

const ROWS = 30_000;
const MIGRATION =
  'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n';

async function backfillRow(db: TestDatabase) {
  const [row] = await rows<{ done: number; throttle: string | null }>(
    db.pool,
    `SELECT rows_done::int AS done, throttle FROM tidal.backfills
      WHERE to_regclass('tidal.backfills') IS NOT NULL`,
  ).catch(() => []);
  return row;
}

describe('tidal dashboard, during a migration', () => {
  let db: TestDatabase;
  let runner: Tidal;
  let watcher: Tidal;
  let dashboard: RunningDashboard;
  let started: Promise<unknown>;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
    await db.query(`INSERT INTO items SELECT g, g FROM generate_series(1, ${ROWS}) g`);
    await db.query('ANALYZE items');
    runner = await Tidal.connect({ connectionString: db.url, backfillRate: 2000 });
    started = runner.start(await migrationFromYaml('double', MIGRATION));
    await until('the backfill has begun', async () => ((await backfillRow(db))?.done ?? 0) > 0);
    watcher = await Tidal.connect({ connectionString: db.url });
    dashboard = await serveDashboard(watcher, { controls: true, intervalMs: 250 });
  }, 60_000);

  afterAll(async () => {
    await dashboard?.close();
    await runner?.backfill({ resume: true }).catch(() => {});
    await started?.catch(() => {});
    await runner?.close();
    await watcher?.close();
    await db?.dispose();
  }, 60_000);

  it('refuses controls without the token, bad commands, and requests for another host', async () => {
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(`${dashboard.url}api/backfill`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const none = await post({}, { pause: true });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: string }).error).toMatch(/needs the token/);
    expect((await post({ authorization: 'Bearer wrong' }, { pause: true })).status).toBe(401);
    const bad = await post({ authorization: `Bearer ${dashboard.token}` }, { pause: 'yes' });
    expect(bad.status).toBe(400);
    // None of them paused anything.
    const [control] = await rows<{ paused: boolean }>(
      db.pool,
      `SELECT paused FROM tidal.backfill_control WHERE to_regclass('tidal.backfill_control') IS NOT NULL`,
    ).catch(() => []);
    expect(control?.paused ?? false).toBe(false);

    const readOnly = await serveDashboard(watcher, { intervalMs: 250 });
    try {
      expect(readOnly.token).toBeNull();
      const refused = await fetch(`${readOnly.url}api/backfill`, {
        method: 'POST',
        headers: { authorization: `Bearer ${dashboard.token}` },
        body: '{"pause": true}',
      });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: string }).error).toMatch(/controls are off/);
    } finally {
      await readOnly.close();
    }

    // A name rebound to this address is not served: only the loopback names are. (fetch
    // will not send another Host header, node:http will.)
    const rebound = await new Promise<number>((resolve, reject) => {
      request(
        `${dashboard.url}api/snapshot`,
        { headers: { host: `attacker.example:${dashboard.port}` } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(421);
    const snapshot = (await (await fetch(`${dashboard.url}api/snapshot`)).json()) as {
      snapshot: WatchSnapshot;
    };
    expect(snapshot.snapshot.status.active?.name).toBe('double');
    expect(snapshot.snapshot.steps.length).toBeGreaterThan(0);
  });

  it.runIf(hasBrowser || browserRequired)(
    'in a browser: shows progress that moves, and its pause pauses the backfill',
    async () => {
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox'],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
        const problems: string[] = [];
        page.on('pageerror', (error) => problems.push(error.message));
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(m.text());
        });
        await page.goto(`${dashboard.url}#token=${dashboard.token}`);
        const rowsDone = page.locator('[data-table="items"] [data-fact="rows done"]');
        await rowsDone.waitFor();
        const first = await rowsDone.textContent();
        await until(
          'the rows done on the page change',
          async () => (await rowsDone.textContent()) !== first,
          15_000,
        );
        await expect(page.locator('#phase').textContent()).resolves.toBe('starting');
        await expect(page.locator('#steps tbody tr').count()).resolves.toBeGreaterThan(0);
        await expect(
          page.locator('[data-fact="sessions waiting on locks"]').textContent(),
        ).resolves.toMatch(/^\d+$/);
        await page.locator('#rows-chart polyline[data-series="items"]').waitFor();

        await page.locator('#pause').click();
        await page.locator('#control-result', { hasText: 'paused' }).waitFor();
        await until(
          'the backfill says it is paused',
          async () => (await backfillRow(db))?.throttle === 'paused',
        );
        const held = (await backfillRow(db))?.done;
        await sleep(1500);
        expect((await backfillRow(db))?.done).toBe(held);
        expect(held).toBeLessThan(ROWS);
        await page
          .locator('[data-table="items"] [data-fact="slowed by"]', { hasText: 'paused' })
          .waitFor();

        await page.locator('#resume').click();
        await page.locator('#control-result', { hasText: 'running' }).waitFor();
        await until(
          'the backfill goes on',
          async () => ((await backfillRow(db))?.done ?? 0) > (held ?? 0),
        );
        // The README's picture: a few seconds of the rate after the pause.
        if (process.env.TIDAL_DASHBOARD_SCREENSHOT) {
          await sleep(4000);
          await page.screenshot({ path: process.env.TIDAL_DASHBOARD_SCREENSHOT, fullPage: true });
        }
        expect(problems).toEqual([]);
      } finally {
        await browser.close();
      }
    },
    90_000,
  );

  it('reads on through a connection of its own once the one it was given is lost', async () => {
    const tidalSessions = async () =>
      new Set(
        (
          await rows<{ pid: number }>(
            db.pool,
            `SELECT pid FROM pg_stat_activity WHERE application_name = 'tidal' AND datname = current_database()`,
          )
        ).map((r) => r.pid),
      );
    const before = await tidalSessions();
    const given = await Tidal.connect({ connectionString: db.url });
    const [pid] = [...(await tidalSessions())].filter((p) => !before.has(p));
    const watching = await serveDashboard(given, {
      intervalMs: 200,
      reconnect: () => Tidal.connect({ connectionString: db.url }),
    });
    const snapshot = async () =>
      (await (await fetch(`${watching.url}api/snapshot`)).json()) as {
        error: string | null;
        snapshot: WatchSnapshot | null;
      };
    try {
      expect((await snapshot()).error).toBeNull();
      await db.query('SELECT pg_terminate_backend($1)', [pid]);
      let sawError = false;
      await until('the dashboard reads again after the lost connection', async () => {
        const now = await snapshot();
        sawError ||= now.error !== null;
        return sawError && now.error === null;
      });
      const after = await snapshot();
      expect(after.snapshot?.status.active?.name).toBe('double');
    } finally {
      await watching.close();
      await given.close();
    }
  });

  it('says so when its port is taken, and reads nothing', async () => {
    const busy = await serveDashboard(watcher, { intervalMs: 250 });
    try {
      const refused = await runCli(['dashboard', '--url', db.url, '--port', String(busy.port)]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `cannot serve the dashboard at 127.0.0.1 port ${busy.port}: the port is in use (--port 0 takes any free one)`,
      );
      await expect(serveDashboard(watcher, { port: busy.port })).rejects.toThrow(
        'the port is in use',
      );
    } finally {
      await busy.close();
    }
  });

  it('the command prints its address and token, serves the page, and stops on SIGINT', async () => {
    const lines: string[] = [];
    const cli = startCli(
      ['dashboard', '--url', db.url, '--port', '0', '--controls', '--json'],
      (line) => lines.push(line),
    );
    await until('the address is printed', async () => lines.length > 0, 30_000);
    const printed = JSON.parse(lines[0] ?? '{}') as { url: string; token: string };
    expect(printed.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(printed.token).toMatch(/^[\w-]{20,}$/);
    const page = await fetch(printed.url);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    expect((await fetch(`${printed.url}app.js`)).status).toBe(200);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(0);
  }, 60_000);
});
