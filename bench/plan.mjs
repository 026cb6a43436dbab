// @ts-check
/**
 * `npm run bench:plan`: how loading (YAML parse, schema, offline SQL checks) and planning (the
 * catalog, every operation's checks against the database, the plan report) grow with the number
 * of operations in one file. It prints figures and never fails on them.
 *
 * For each size N it makes a schema of N / 10 tables `(id int primary key, a int, b varchar(40),
 * d int)` and a file of N operations, ten per table: six add_column with `up`, two create_index,
 * an alter_column widening `b` (catalog only) and one changing `d` to bigint (copy column). Each
 * size runs in a child process of its own, so its peak memory is its own. The per-operation
 * ratio between sizes shows whether the cost grows linearly (1.00) or faster.
 *
 * It also times the refusal of a file that adds more columns to one table than PostgreSQL allows
 * (1600, dropped columns included): it must be refused before the per-operation checks.
 *
 * Runs against a fresh database on the server of DATABASE_URL (or --url), or on an embedded
 * PostgreSQL when neither is given; the database is dropped at the end. Imports the built
 * library from dist/, so run `npm run build` first (the npm script does).
 *
 * Flags: --sizes a,b,c (default 1000,5000,20000), --refuse N (operations of the refused file,
 * default 20000; 0 skips it), --url URL, --json. Progress goes to stderr; figures to stdout.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  benchDatabase,
  benchStarted,
  cleanupOnExit,
  fmtInt,
  fmtSec,
  machineFacts,
  machineLine,
  openClient,
  positiveInt,
  say,
  table,
} from './common.mjs';

const USAGE = `usage: npm run bench:plan -- [options]
  --sizes A,B,C     operations per file (1000,5000,20000)
  --refuse N        operations of the file adding too many columns to one table (20000; 0 skips)
  --url URL         server to create the bench database on (default DATABASE_URL, else embedded)
  --json            print the figures as JSON instead of tables`;

const OPERATIONS_PER_TABLE = 10;

/** A small file each measuring process loads first, next to the measured file. */
const WARM_UP_FILE = 'warm_up.yaml';

/** The operations of table `t`, ten of them, `i` counting operations over the whole file. */
function tableOperations(/** @type {string} */ t, /** @type {number} */ first) {
  const lines = [];
  for (let k = 0; k < 6; k++) {
    lines.push(
      `  - add_column:\n      table: ${t}\n      up: a * ${k + 2}\n      column:\n        name: c${first + k}\n        type: integer\n        nullable: true\n`,
    );
  }
  for (const column of ['a', 'b']) {
    lines.push(
      `  - create_index:\n      table: ${t}\n      name: ${t}_${column}_idx\n      columns:\n        - column: ${column}\n`,
    );
  }
  lines.push(`  - alter_column:\n      table: ${t}\n      column: b\n      type: varchar(100)\n`);
  lines.push(
    `  - alter_column:\n      table: ${t}\n      column: d\n      type: bigint\n      up: d\n      down: d::integer\n`,
  );
  return lines.join('');
}

function spreadFile(/** @type {number} */ operations) {
  const tables = Math.ceil(operations / OPERATIONS_PER_TABLE);
  let yaml = 'operations:\n';
  for (let i = 0; i < tables; i++) yaml += tableOperations(`t${i}`, i * OPERATIONS_PER_TABLE);
  return { yaml, tables };
}

/** `operations` add_column on one table: far over its 1600 columns. */
function oneTableFile(/** @type {number} */ operations) {
  let yaml = 'operations:\n';
  for (let i = 0; i < operations; i++) {
    yaml += `  - add_column:\n      table: wide\n      up: a * ${i}\n      column:\n        name: c${i}\n        type: integer\n        nullable: true\n`;
  }
  return yaml;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,5000,20000' },
      refuse: { type: 'string', default: '20000' },
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      // Internal: measure one file in this process.
      child: { type: 'string' },
      schema: { type: 'string' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const sizes = values.sizes
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => positiveInt(s, '--sizes'));
  const refuse = values.refuse === '0' ? 0 : positiveInt(values.refuse, '--refuse');
  return { sizes, refuse, url: values.url, json: values.json, child: values.child, values };
}

/**
 * In the child: load the file, then plan it as `tidal plan` does, measuring each phase. Peak
 * RSS is the process's high-water mark at the end of the phase (so planning's includes
 * loading's); the heap is what the phase leaves reachable (after a collection): the loaded
 * migration, then the plan besides it.
 */
async function measureChild(
  /** @type {string} */ file,
  /** @type {string} */ url,
  /** @type {string} */ schema,
) {
  const { loadMigrationFile, Tidal, InputError } = await import('../dist/index.js');
  // What every process pays once (the SQL parser's start, compiling and optimising the code)
  // is not per operation.
  for (let i = 0; i < 2; i++) await loadMigrationFile(join(dirname(file), WARM_UP_FILE));
  const heapUsed = () => {
    globalThis.gc?.();
    return process.memoryUsage().heapUsed;
  };
  /** @type {unknown[]} */
  const kept = [];
  const phase = async (/** @type {() => Promise<unknown>} */ work) => {
    heapUsed();
    const started = performance.now();
    /** @type {string | null} */
    let refused = null;
    try {
      kept.push(await work());
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      refused = error.message.split('\n')[0] ?? '';
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      seconds,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      heapBytes: heapUsed(),
      refused,
    };
  };
  /** @type {import('../dist/index.js').LoadedMigration | undefined} */
  let loaded;
  const load = await phase(async () => {
    loaded = await loadMigrationFile(file);
    return loaded;
  });
  const tidal = await Tidal.connect({ connectionString: url, schema });
  try {
    const plan = loaded ? await phase(() => tidal.plan(/** @type {any} */ (loaded))) : null;
    return { operations: loaded?.migration.operations.length ?? 0, load, plan };
  } finally {
    await tidal.close();
  }
}

/** Runs `--child FILE` in a fresh Node process and returns what it measured. */
function runChild(
  /** @type {string} */ file,
  /** @type {string} */ url,
  /** @type {string} */ schema,
) {
  return new Promise((resolve, reject) => {
    const child = fork(
      fileURLToPath(import.meta.url),
      ['--child', file, '--url', url, '--schema', schema],
      {
        execArgv: ['--expose-gc'],
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      },
    );
    /** @type {unknown} */
    let result;
    child.on('message', (message) => {
      result = message;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 && result
        ? resolve(result)
        : reject(new Error(`measuring ${file} failed (exit ${code})`)),
    );
  });
}

const fmtMiB = (/** @type {number} */ bytes) =>
  `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
const fmtUs = (/** @type {number} */ s) => `${(s * 1e6).toFixed(0)} µs`;

/** @param {Record<string, any>} r */
function render(r) {
  const lines = [];
  lines.push('tidal plan benchmark', '');
  lines.push(machineLine(r.machine));
  lines.push(`postgres    ${r.postgres.version} (${r.postgres.where})`, '');
  for (const [title, key] of [
    ['1. Loading: read, YAML parse, schema, offline SQL checks', 'load'],
    ['2. Planning: catalog, checks against the database, plan report', 'plan'],
  ]) {
    lines.push(title);
    const first = r.sizes[0];
    lines.push(
      table([
        ['operations', 'file', 'seconds', 'per operation', 'ratio', 'peak RSS', 'heap kept'],
        ...r.sizes.map((/** @type {any} */ x) => [
          fmtInt(x.operations),
          fmtMiB(x.fileBytes),
          fmtSec(x[key].seconds),
          fmtUs(x[key].seconds / x.operations),
          (x[key].seconds / x.operations / (first[key].seconds / first.operations)).toFixed(2),
          fmtMiB(x[key].peakRssBytes),
          fmtMiB(x[key].heapBytes),
        ]),
      ]),
    );
    lines.push(
      `  ratio: time per operation against ${fmtInt(first.operations)} operations (1.00: linear)`,
      '',
    );
  }
  if (r.refusal) {
    const x = r.refusal;
    lines.push(`3. ${fmtInt(x.operations)} add_column on one table of 4 columns (over the limit)`);
    lines.push(
      table([
        ['', 'seconds', 'peak RSS'],
        ['loading', fmtSec(x.load.seconds), fmtMiB(x.load.peakRssBytes)],
        ['planning, until refused', fmtSec(x.plan.seconds), fmtMiB(x.plan.peakRssBytes)],
      ]),
    );
    lines.push(`  refused: ${x.plan.refused ?? 'NOT refused'}`, '');
  }
  lines.push(`total bench time ${r.totalSeconds.toFixed(0)} s`);
  return lines.join('\n');
}

async function main() {
  const options = parseOptions();
  if (options.child) {
    const result = await measureChild(
      options.child,
      /** @type {string} */ (options.url),
      /** @type {string} */ (options.values.schema),
    );
    process.send?.(result);
    return;
  }
  const { cleanups, cleanup } = cleanupOnExit();

  try {
    const { url, where } = await benchDatabase(options.url, cleanups);
    const db = await openClient(url);
    cleanups.push(() => db.end());
    const dir = await mkdtemp(join(os.tmpdir(), 'tidal-bench-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, WARM_UP_FILE), spreadFile(1000).yaml);
    const report = {
      machine: machineFacts(),
      postgres: {
        version: (await db.query(`SELECT current_setting('server_version') AS v`)).rows[0].v,
        where,
      },
      /** @type {any[]} */ sizes: [],
      /** @type {any} */ refusal: null,
      totalSeconds: 0,
    };

    for (const size of options.sizes) {
      const schema = `plan_${size}`;
      const { yaml, tables } = spreadFile(size);
      say(`${fmtInt(size)} operations: creating ${fmtInt(tables)} tables in schema ${schema}`);
      await db.query(`CREATE SCHEMA ${schema}`);
      for (let i = 0; i < tables; i += 500) {
        const statements = [];
        for (let t = i; t < Math.min(tables, i + 500); t++) {
          statements.push(
            `CREATE TABLE ${schema}.t${t} (id int PRIMARY KEY, a int, b varchar(40), d int)`,
          );
        }
        await db.query(statements.join(';\n'));
      }
      await db.query(`ANALYZE`);
      const file = join(dir, `bench_${size}.yaml`);
      await writeFile(file, yaml);
      say(`${fmtInt(size)} operations: loading and planning ${file}`);
      const measured = /** @type {any} */ (await runChild(file, url, schema));
      if (measured.plan.refused)
        throw new Error(`planning refused the file: ${measured.plan.refused}`);
      report.sizes.push({ ...measured, fileBytes: Buffer.byteLength(yaml) });
      say(
        `  load ${fmtSec(measured.load.seconds)} s, plan ${fmtSec(measured.plan.seconds)} s, peak RSS ${fmtMiB(measured.plan.peakRssBytes)}`,
      );
    }

    if (options.refuse > 0) {
      await db.query(`CREATE SCHEMA refuse`);
      await db.query(`CREATE TABLE refuse.wide (id int PRIMARY KEY, a int, b text, d int)`);
      const file = join(dir, 'bench_refuse.yaml');
      await writeFile(file, oneTableFile(options.refuse));
      say(`${fmtInt(options.refuse)} add_column on one table: loading and planning`);
      const measured = /** @type {any} */ (await runChild(file, url, 'refuse'));
      report.refusal = measured;
      say(`  refused after ${fmtSec(measured.plan.seconds)} s: ${measured.plan.refused}`);
    }

    report.totalSeconds = (performance.now() - benchStarted) / 1000;
    process.stdout.write(
      options.json ? `${JSON.stringify(report, null, 2)}\n` : `${render(report)}\n`,
    );
  } finally {
    await cleanup();
  }
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
