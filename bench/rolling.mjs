// @ts-check
/**
 * `npm run bench:rolling`: what a rolling deploy felt, per data library and per way of naming
 * the table. It runs test/integration/client-*.test.ts (old and new releases writing at once
 * through start, both versions live, complete; then start and rollback) with
 * TIDAL_ROLLING_FIGURES set, and prints each run's transactions, failed transactions, wrong rows
 * and transaction latency. It prints figures and never fails on them; the tests fail on failures
 * and wrong rows.
 *
 * The tests use the server of DATABASE_URL, or an embedded PostgreSQL when it is not set.
 * Flags: --runs N (default 1: each library's file N times), --json.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, table } from './common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '1' }, json: { type: 'boolean', default: false } },
});
const runs = Number(values.runs);

const dir = await mkdtemp(join(os.tmpdir(), 'tidal-bench-rolling-'));
const file = join(dir, 'figures.jsonl');
try {
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`run ${run} of ${runs}\n`);
    const code = await new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', 'test/integration/client-'],
        {
          cwd: ROOT,
          env: { ...process.env, TIDAL_ROLLING_FIGURES: file },
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      child.on('exit', resolve);
    });
    if (code !== 0) process.stderr.write(`the tests failed in run ${run} (exit ${code})\n`);
  }
  const figures = (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } else {
    printTable(figures);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** The run's label: library and way, without the test's claim. */
function label(/** @type {string} */ test) {
  return test
    .replace(' releases in a rolling deploy > ', ': ')
    .replace(/: (no transaction fails|the same).*$/, '');
}

/**
 * One line per library and way, over its runs: transactions, failed and wrong rows summed; the
 * median run's p50 and p99, the worst run's p99 and the slowest transaction.
 * @param {Array<Record<string, any>>} figures
 */
function printTable(figures) {
  /** @type {Map<string, Array<Record<string, any>>>} */
  const byLabel = new Map();
  for (const f of figures) byLabel.set(label(f.test), [...(byLabel.get(label(f.test)) ?? []), f]);
  const sum = (/** @type {number[]} */ values) => values.reduce((a, b) => a + b, 0);
  const head = [
    'library: way of naming the table',
    'runs',
    'transactions',
    'failed',
    'wrong rows',
    'p50 ms',
    'p99 ms',
    'worst p99',
    'max ms',
  ];
  const rows = [...byLabel]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, runs]) => [
      name,
      runs.length,
      sum(runs.map((r) => sum(Object.values(r.transactions)))),
      sum(runs.map((r) => r.failures)),
      sum(runs.map((r) => r.wrongRows)),
      median(runs.map((r) => r.p50Ms)),
      median(runs.map((r) => r.p99Ms)),
      Math.max(...runs.map((r) => r.p99Ms)),
      Math.max(...runs.map((r) => r.maxMs)),
    ]);
  process.stdout.write(
    'Rolling deploys (old and new release writing through start, both live, complete; again through rollback):\n',
  );
  process.stdout.write(`${table([head, ...rows.map((row) => row.map(String))])}\n`);
}
