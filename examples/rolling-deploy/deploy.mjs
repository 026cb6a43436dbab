#!/usr/bin/env node
/**
 * A whole rolling deploy of the accounts service, with its clients sending requests all along:
 *
 *   1. release 1 serves (its migrations run with `tidal migrate --complete`);
 *   2. `tidal migrate release-2/migrations` starts release 2's migration: expand and backfill;
 *   3. release 2 joins, and both serve behind one load balancer;
 *   4. `tidal complete --wait` waits while release 1 drains, then contracts;
 *   5. release 2 serves alone.
 *
 * Then every account is checked against what the clients wrote, and the figures of what they
 * felt are printed per phase. Exits 1 if a request failed, a read was wrong or a row is wrong.
 *
 *   node deploy.mjs                           on an embedded PostgreSQL in a temporary directory
 *   DATABASE_URL=postgres://... node deploy.mjs   in a throwaway database on that server
 *   node deploy.mjs --figures FILE            also writes the figures as JSON to FILE
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from 'tidal';
import { LoadBalancer, Traffic } from './lib/traffic.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SEEDED = 20_000;
const INSTANCES = 2;
const WORKERS = 6;
const PHASE_MS = 3_000;
/** How long the load balancer takes to stop sending to an instance before it is stopped. */
const DEREGISTER_MS = 300;

const figuresFile = process.argv.includes('--figures')
  ? process.argv[process.argv.indexOf('--figures') + 1]
  : undefined;
const started = Date.now();
const log = (message) =>
  console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s  ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const database = await openDatabase();
const instances = new Set();
let exitCode = 1;
try {
  exitCode = await rollingDeploy(database.url);
} finally {
  for (const instance of instances) instance.process.kill('SIGKILL');
  await database.close();
}
process.exit(exitCode);

async function rollingDeploy(url) {
  log('release 1: migrations');
  await tidal(url, ['migrate', join(HERE, 'release-1/migrations'), '--complete']);
  await seed(url);

  const balancer = new LoadBalancer();
  const traffic = new Traffic(balancer, { workers: WORKERS, seeded: SEEDED });
  traffic.phase('release 1 serves');
  const release1 = await startInstances(url, 'release-1', balancer);
  traffic.start();
  await sleep(PHASE_MS);

  traffic.phase('tidal migrate: expand, backfill');
  log('release 2: migrations (start, without complete)');
  await tidal(url, ['migrate', join(HERE, 'release-2/migrations')]);

  traffic.phase('both releases serve');
  await startInstances(url, 'release-2', balancer);
  await sleep(PHASE_MS);

  traffic.phase('release 1 drains, tidal complete --wait');
  log('tidal complete --wait: it waits for release 1 to disconnect');
  let waited = false;
  const complete = tidal(url, ['complete', '--wait', '2m'], (line) => {
    if (line.includes('waiting for')) waited = true;
  });
  await untilTrue(() => waited, 30_000, 'tidal complete to report that it waits');
  for (const instance of release1) await stopInstance(instance, balancer);
  await complete;

  traffic.phase('release 2 serves alone');
  await sleep(PHASE_MS);
  await traffic.stop();
  for (const instance of [...instances]) await stopInstance(instance, balancer);

  const rows = await checkRows(url, traffic.expected);
  const phases = traffic.figures();
  printFigures(phases, rows, waited);
  if (figuresFile) writeFileSync(figuresFile, `${JSON.stringify({ phases, rows, waited })}\n`);
  const bad = phases.some((p) => p.failed > 0 || p.wrongReads > 0) || rows.wrong > 0;
  return bad ? 1 : 0;
}

/** A throwaway database: on DATABASE_URL's server, or on an embedded server of its own. */
async function openDatabase() {
  if (!process.env.DATABASE_URL) {
    log('starting an embedded PostgreSQL');
    const server = await startEmbeddedPostgres();
    return { url: server.url, close: () => server.stop() };
  }
  const name = `tidal_example_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async close() {
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

async function seed(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    `INSERT INTO accounts (name, balance)
     SELECT 'seed ' || g, g FROM generate_series(1, ${SEEDED}) g`,
  );
  await client.end();
  log(`seeded ${SEEDED.toLocaleString('en')} accounts`);
}

/** Runs the tidal command line as a deploy step would, showing its output. */
function tidal(url, args, onLine = () => {}) {
  const manifest = fileURLToPath(import.meta.resolve('tidal/package.json'));
  const bin = join(dirname(manifest), JSON.parse(readFileSync(manifest, 'utf8')).bin.tidal);
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, TIDAL_DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      console.log(`          tidal │ ${line}`);
      onLine(line);
    });
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`tidal ${args[0]} exited with ${code}`)),
    );
  });
}

/** Starts the release's instances and puts them in service. */
async function startInstances(url, release, balancer) {
  const started = [];
  for (let i = 0; i < INSTANCES; i++) {
    const child = spawn(process.execPath, [join(HERE, release, 'app.mjs')], {
      env: { ...process.env, DATABASE_URL: url, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${release} exited with ${code}`)));
      createInterface({ input: child.stdout }).once('line', (line) =>
        resolve(JSON.parse(line).listening),
      );
    });
    const instance = { release, port, process: child };
    instances.add(instance);
    balancer.add(port);
    started.push(instance);
  }
  log(`${release}: ${INSTANCES} instances in service`);
  return started;
}

/** Takes an instance out of service, then stops it the way an orchestrator does (SIGTERM). */
async function stopInstance(instance, balancer) {
  balancer.remove(instance.port);
  await sleep(DEREGISTER_MS);
  const exited = new Promise((resolve) => instance.process.once('exit', resolve));
  instance.process.kill('SIGTERM');
  await exited;
  instances.delete(instance);
  log(`${instance.release}: instance on port ${instance.port} stopped`);
}

/** Every account as the clients last wrote it, read through the base table. */
async function checkRows(url, expected) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query('SELECT id, display_name, balance FROM public.accounts');
  await client.end();
  const actual = new Map(rows.map((r) => [Number(r.id), r]));
  let wrong = 0;
  for (const [id, want] of expected) {
    const row = actual.get(id);
    if (!row || row.display_name !== want.name || Number(row.balance) !== want.balance) wrong++;
  }
  return { checked: expected.size, wrong, extra: Math.max(0, actual.size - expected.size) };
}

function printFigures(phases, rows, waited) {
  const head = ['phase', 'requests', 'failed', 'wrong reads', 'p50 ms', 'p99 ms', 'max ms'];
  const table = phases.map((p) => [
    p.phase,
    p.requests,
    p.failed,
    p.wrongReads,
    p.p50Ms,
    p.p99Ms,
    p.maxMs,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])));
  console.log(`\nWhat the clients felt:\n  ${line(head).join('  ')}`);
  for (const row of table) console.log(`  ${line(row).join('  ')}`);
  for (const p of phases) for (const f of p.firstFailures) console.log(`  ${p.phase}: ${f}`);
  console.log(
    `\nAccounts checked against the clients' own record: ${rows.checked.toLocaleString('en')}, wrong or missing: ${rows.wrong}, unexpected: ${rows.extra}`,
  );
  console.log(`tidal complete waited for release 1 to drain: ${waited ? 'yes' : 'no'}`);
}

async function untilTrue(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
