/**
 * `npm run bench:downtime`: what the application feels while its schema changes.
 *
 * On a table of --rows rows (1M), with a steady fixed-rate traffic of point reads, point updates
 * and inserts on several connections, the same change is made twice, each time on a freshly
 * seeded table: (a) the Big Bang way, plain SQL in one transaction (add a NOT NULL column
 * computed from another, widen a column's type), then the new application deployed; (b)
 * through tidal (start, both versions live, complete). For each it prints baseline and
 * during-change p50/p99/max latency, the longest stretch in which no transaction finished,
 * failed transactions, and the data checks (every inserted row present, the sum of balances
 * equal to the updates applied); then tidal's targets.
 *
 * Runs on a fresh database on the server of DATABASE_URL (or --url), or on an embedded one.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { bigBangWay, renderComparison, tidalTargets, tidalWay } from '../dist/demo/compare.js';
import { benchDatabase, openClient, positiveInt, say } from './common.mjs';

const USAGE = `usage: npm run bench:downtime -- [options]
  --rows N       rows of the table (1000000)
  --rate N       application transactions per second (500)
  --phase-ms N   how long traffic runs before, between and after the steps (5000)
  --url URL      server to create the bench database on (default DATABASE_URL, else embedded)
  --json         print the figures as JSON instead of tables`;

const LOCK_TIMEOUT_MS = 500;
async function main() {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      rate: { type: 'string', default: '500' },
      'phase-ms': { type: 'string', default: '5000' },
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const rows = positiveInt(values.rows, '--rows');
  const rate = positiveInt(values.rate, '--rate');
  const phaseMs = positiveInt(values['phase-ms'], '--phase-ms');

  /** @type {Array<() => Promise<unknown>>} */
  const cleanups = [];
  try {
    const { url, where } = await benchDatabase(values.url, cleanups);
    const client = await openClient(url);
    const version = await client
      .query('SHOW server_version')
      .then((r) => r.rows[0]?.server_version)
      .finally(() => client.end());
    const options = {
      url,
      rows,
      rate,
      phaseMs,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      say,
      /** @param {import('../dist/index.js').TidalEvent} event */
      onEvent(event) {
        if (event.type === 'phase') say(`  tidal: ${event.phase}`);
        if (event.type === 'backfill' && event.done)
          say(`  tidal: ${event.pass} of ${event.table} done, ${event.rowsDone} rows`);
      },
    };
    say(`Big Bang way on ${rows.toLocaleString('en-US')} rows at ${rate} transactions/s`);
    const bigBang = await bigBangWay(options);
    say(`tidal's way on ${rows.toLocaleString('en-US')} rows at ${rate} transactions/s`);
    const tidal = await tidalWay(options);
    const report = {
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      },
      postgres: { version, where },
      rows,
      rate,
      phaseMs,
      ways: [bigBang, tidal],
      targets: tidalTargets(tidal, LOCK_TIMEOUT_MS),
    };
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      process.stdout.write(
        [
          '',
          `machine     ${report.machine.cpus} x ${report.machine.cpuModel}, ${report.machine.memoryGiB} GiB RAM`,
          `postgres    ${version} (${where})`,
          `traffic     ${rate} transactions/s on 4 connections (60% reads, 30% updates, 10% inserts), ${rows.toLocaleString('en-US')} rows`,
          '',
          renderComparison([bigBang, tidal], LOCK_TIMEOUT_MS),
          '',
        ].join('\n'),
      );
    }
  } finally {
    for (const step of cleanups.reverse()) await step().catch(() => {});
  }
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
