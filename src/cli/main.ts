#!/usr/bin/env node
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type BackfillWorkers, MAX_BACKFILL_WORKERS } from '../backfill/workers.js';
import { type Conversion, convertSql } from '../convert/convert.js';
import {
  migrationNameOf,
  migrationTemplate,
  nextMigrationPath,
  writeNewFile,
} from '../convert/create.js';
import { DEFAULT_DASHBOARD_HOST, serveDashboard } from '../dashboard/server.js';
import { renderDemoReport, runDemo } from '../demo/run.js';
import { InputError, messageOf, OperationError, TidalError } from '../errors.js';
import type { BackfillRequest } from '../lifecycle/backfill-control.js';
import type { DatabaseValidation } from '../lifecycle/validate.js';
import { lintPaths } from '../lint/lint.js';
import { type LintFormat, renderFindings, rulesTable } from '../lint/report.js';
import { Metrics } from '../metrics.js';
import { type LoadedMigration, listMigrationFiles, loadMigrationFile } from '../migration/load.js';
import { formatPath, MigrationFileError } from '../migration/problems.js';
import { initSqlParser } from '../migration/sql-text.js';
import { resolveConnectionString } from '../pg/connect.js';
import {
  type CriticalLoad,
  DEFAULT_DRAIN_WAIT_MS,
  DEFAULT_OPTIONS,
  LOAD_SIGNALS,
  type LoadSignal,
  Tidal,
  type TidalOptions,
} from '../tidal.js';
import {
  DEFAULT_PROGRESS_INTERVAL_MS,
  eventRenderer,
  type Output,
  renderPlan,
  renderStatus,
} from './render.js';

interface GlobalOptions {
  url?: string;
  schema: string;
  stateSchema: string;
  lockTimeout: number;
  lockRetryDeadline: number;
  backfillBatchSize: number;
  backfillBatchMs: number;
  backfillWorkers: BackfillWorkers;
  maxReplicaLag: number;
  metricsPort?: number;
  metricsHost: string;
  replica?: string[];
  maxActiveSessions?: number;
  maxWalRate?: number;
  maxCheckpointWal?: number;
  maxLockWaiters?: number;
  maxRollbackRate?: number;
  maxDeadlockRate?: number;
  probe?: string;
  probeMax?: number;
  criticalLoad?: CriticalLoad;
  backfillRate?: number;
  backfillVerify: boolean;
  json: boolean;
  verbose: boolean;
  progressInterval: number;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function workerCount(value: string): BackfillWorkers {
  if (value === 'auto') return value;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_BACKFILL_WORKERS)
    throw new InvalidArgumentError(
      `expected auto or a number of workers from 1 to ${MAX_BACKFILL_WORKERS}`,
    );
  return n;
}

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw new InvalidArgumentError('expected a percent from 1 to 100');
  return n;
}

function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError('expected a number');
  return n;
}

function positiveNumber(value: string): number {
  const n = number(value);
  if (n <= 0) throw new InvalidArgumentError('expected a number above 0');
  return n;
}

/** `replica-lag=30000,probe=50`: a critical value per signal. */
function criticalLoad(value: string, previous: CriticalLoad = {}): CriticalLoad {
  const limits: CriticalLoad = { ...previous };
  for (const part of value.split(',')) {
    const [signal, limit, ...rest] = part.split('=').map((p) => p.trim());
    if (!LOAD_SIGNALS.includes(signal as LoadSignal) || limit === undefined || rest.length > 0)
      throw new InvalidArgumentError(
        `expected signal=value pairs separated by commas, got "${part}"; signals: ${LOAD_SIGNALS.join(', ')}`,
      );
    limits[signal as LoadSignal] = positiveNumber(limit);
  }
  return limits;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('expected 0 or a positive integer');
  return n;
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration as `500ms`, `30s`, `10m`, `1h` (a bare number is seconds), in milliseconds. */
function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a duration such as 30s, 10m or 1h');
  return Math.round(Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? 's'] ?? 1000));
}

/** --wait [DURATION] and --force of a command that removes a version. */
function addDrainOptions(command: Command, removes: string): Command {
  return command
    .addOption(
      new Option(
        '--wait [duration]',
        `while tagged sessions of ${removes} are connected, wait for them to disconnect (default ${DEFAULT_DRAIN_WAIT_MS / 60_000}m; e.g. 30s, 10m, 1h) instead of refusing`,
      )
        .argParser(duration)
        .preset(`${DEFAULT_DRAIN_WAIT_MS}ms`),
    )
    .option('--force', `go on even while tagged sessions of ${removes} are connected`, false);
}

interface DrainFlags {
  wait?: number;
  force: boolean;
}

function outputOf(options: GlobalOptions): Output {
  return {
    json: options.json,
    verbose: options.verbose,
    progressIntervalMs: options.progressInterval,
  };
}

function print(output: Output, human: string, json: unknown): void {
  process.stdout.write(output.json ? `${JSON.stringify(json)}\n` : `${human}\n`);
}

/** Runs a command with a connected Tidal and closes it afterwards. */
async function withTidal<T>(
  program: Command,
  work: (
    tidal: Tidal,
    options: GlobalOptions,
    output: Output,
    /** Another connection with the same options (the first is closed afterwards, not it). */
    connectAgain: () => Promise<Tidal>,
  ) => Promise<T>,
): Promise<T> {
  const options = program.opts<GlobalOptions>();
  const output = outputOf(options);
  const render = eventRenderer(output);
  const metrics = options.metricsPort !== undefined ? new Metrics() : undefined;
  const endpoint = metrics
    ? await metrics.serve(options.metricsPort ?? 0, options.metricsHost)
    : undefined;
  if (endpoint) {
    render({
      type: 'notice',
      message: `metrics at http://${options.metricsHost}:${endpoint.port}/metrics`,
    });
  }
  const tidalOptions: TidalOptions = {
    connectionString: resolveConnectionString(options.url),
    schema: options.schema,
    stateSchema: options.stateSchema,
    lockTimeoutMs: options.lockTimeout,
    lockRetryDeadlineMs: options.lockRetryDeadline,
    backfillBatchSize: options.backfillBatchSize,
    backfillBatchMs: options.backfillBatchMs,
    backfillWorkers: options.backfillWorkers,
    maxReplicaLagMs: options.maxReplicaLag,
    replicaUrls: options.replica,
    maxActiveSessions: options.maxActiveSessions,
    maxWalRateMBps: options.maxWalRate,
    maxCheckpointWalPercent: options.maxCheckpointWal,
    maxLockWaiters: options.maxLockWaiters,
    maxRollbackRate: options.maxRollbackRate,
    maxDeadlockRate: options.maxDeadlockRate,
    probe: options.probe !== undefined ? { sql: options.probe, max: options.probeMax } : undefined,
    criticalLoad: options.criticalLoad,
    backfillRate: options.backfillRate,
    backfillVerify: options.backfillVerify,
    onEvent: (event) => {
      render(event);
      metrics?.observe(event);
    },
  };
  const tidal = await Tidal.connect(tidalOptions).catch(async (error: unknown) => {
    await endpoint?.close();
    throw error;
  });
  try {
    return await work(tidal, options, output, () => Tidal.connect(tidalOptions));
  } finally {
    await tidal.close();
    await endpoint?.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('tidal')
    .description('Zero-downtime schema migrations for PostgreSQL (expand, backfill, contract)')
    .version('0.1.0')
    .option(
      '--url <url>',
      'connection URL (default: TIDAL_DATABASE_URL, DATABASE_URL, then PG* variables)',
    )
    .option('--schema <name>', 'application schema', DEFAULT_OPTIONS.schema)
    .option('--state-schema <name>', "schema of tidal's own state", DEFAULT_OPTIONS.stateSchema)
    .option(
      '--lock-timeout <ms>',
      'longest wait for a lock by one statement',
      positiveInteger,
      DEFAULT_OPTIONS.lockTimeoutMs,
    )
    .option(
      '--lock-retry-deadline <ms>',
      'how long a statement retries lock timeouts before tidal gives up',
      positiveInteger,
      DEFAULT_OPTIONS.lockRetryDeadlineMs,
    )
    .option(
      '--backfill-batch-size <n>',
      'rows in the first backfill batch',
      positiveInteger,
      DEFAULT_OPTIONS.backfillBatchSize,
    )
    .option(
      '--backfill-batch-ms <ms>',
      'how long a backfill batch should take; batch sizes follow',
      positiveInteger,
      DEFAULT_OPTIONS.backfillBatchMs,
    )
    .option(
      '--backfill-workers <n|auto>',
      'workers filling and verifying parts of a table at once, each on its own connection (auto: one under a million rows, else up to 1 + max_parallel_workers_per_gather, at most 4)',
      workerCount,
      DEFAULT_OPTIONS.backfillWorkers,
    )
    .option(
      '--backfill-rate <rows/s>',
      'backfill rows per second ceiling, all workers together',
      positiveInteger,
    )
    .option(
      '--no-backfill-verify',
      'skip the pass that checks every backfilled row against up before start finishes',
    )
    .option(
      '--max-replica-lag <ms>',
      'the backfill waits while a standby replays further behind than this (0: do not watch)',
      nonNegativeInteger,
      DEFAULT_OPTIONS.maxReplicaLagMs,
    )
    .option(
      '--replica <url>',
      'also watch the replay lag of this standby (repeatable)',
      (url: string, urls: string[] = []) => [...urls, url],
    )
    .option(
      '--max-active-sessions <n>',
      'the backfill waits while more application sessions than this run a statement',
      positiveInteger,
    )
    .option(
      '--max-wal-rate <MB/s>',
      "the backfill waits while the server writes more WAL than this per second (its own and the application's)",
      positiveInteger,
    )
    .option(
      '--max-checkpoint-wal <percent>',
      'the backfill waits for the next checkpoint while the WAL written since the last is more than this percent of what forces one by volume',
      percent,
    )
    .option(
      '--max-lock-waiters <n>',
      "the backfill waits while more application sessions than this wait on a lock tidal holds (a batch's rows)",
      nonNegativeInteger,
    )
    .option(
      '--max-rollback-rate <per-second>',
      'the backfill waits while the database rolls back more transactions than this per second',
      positiveNumber,
    )
    .option(
      '--max-deadlock-rate <per-minute>',
      'the backfill waits while the database detects more deadlocks than this per minute',
      positiveNumber,
    )
    .option(
      '--probe <sql>',
      'a query that returns one number, run before each batch on a read-only connection of its own (with --probe-max and/or --critical-load probe=N)',
    )
    .option('--probe-max <n>', 'the backfill waits while --probe returns more than this', number)
    .option(
      '--critical-load <signal=value,...>',
      `stop the backfill cleanly (start resumes it when run again) once a signal is past its value in two readings in a row; signals: ${LOAD_SIGNALS.join(', ')}, each in the unit of its --max option`,
      criticalLoad,
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at /metrics on this port while the command runs (0: any free port)',
      nonNegativeInteger,
    )
    .option('--metrics-host <host>', 'address the metrics endpoint listens on', '127.0.0.1')
    .option('--json', 'machine-readable output on stdout', false)
    .option('--verbose', 'show every statement as it runs', false)
    .addOption(
      new Option(
        '--progress-interval <duration>',
        'when stderr is not a terminal, how often each running backfill pass prints its progress line, e.g. 30s (0: only when it is done)',
      )
        .argParser(duration)
        .default(DEFAULT_PROGRESS_INTERVAL_MS, '10s'),
    )
    .showHelpAfterError()
    .exitOverride();

  program
    .command('init')
    .description('create or upgrade the state schema (idempotent)')
    .action(() =>
      withTidal(program, async (tidal, options, output) => {
        const { applied } = await tidal.init();
        print(
          output,
          applied.length > 0
            ? `state schema "${options.stateSchema}" at layout ${applied.at(-1)}`
            : `state schema "${options.stateSchema}" is up to date`,
          { applied },
        );
      }),
    );

  addDrainOptions(
    program
      .command('start')
      .description('validate FILE, expand and backfill; with --complete also contract')
      .argument('<file>', 'migration file (.yaml, .yml or .json)')
      .option('--complete', 'also complete the migration', false),
    'the previous version (which --complete removes)',
  ).action(async (file: string, commandOptions: DrainFlags & { complete: boolean }) => {
    const loaded = await loadMigrationFile(file);
    await withTidal(program, async (tidal, _options, output) => {
      const record = await tidal.start(loaded, {
        complete: commandOptions.complete,
        drain: { waitMs: commandOptions.wait, force: commandOptions.force },
      });
      const url = await tidal.versionUrl(record.name);
      print(
        output,
        record.phase === 'completed'
          ? `migration "${record.name}" completed; version schema ${record.versionSchema}\nconnect the new version with: ${url}`
          : `migration "${record.name}" started; new version in schema ${record.versionSchema}\nconnect the new version with: ${url}\nrun \`tidal complete\` once no instance uses the previous version, or \`tidal rollback\``,
        {
          migration: record.name,
          phase: record.phase,
          versionSchema: record.versionSchema,
          url,
        },
      );
    });
  });

  program
    .command('plan')
    .description(
      'show what start, complete and rollback would run for FILE: each statement, its lock, scans, estimates, and open transactions the first lock would wait for; runs nothing',
    )
    .argument('<file>', 'migration file (.yaml, .yml or .json); with --as-one, a directory')
    .option(
      '--as-one',
      'plan the files of the directory not yet applied as the one migration `migrate --as-one` starts',
      false,
    )
    .action(async (file: string, flags: { asOne: boolean }) => {
      const loaded = flags.asOne ? undefined : await loadMigrationFile(file);
      await withTidal(program, async (tidal, _options, output) => {
        const { report } = loaded ? await tidal.plan(loaded) : await tidal.planAsOne(file);
        print(output, renderPlan(report), report);
      });
    });

  program
    .command('convert')
    .description(
      "turn plain SQL (an ORM's generated migration) into one tidal migration: YAML on stdout, or -o FILE; what it cannot map stays SQL, and what it cannot infer is left for you to write, each said on stderr",
    )
    .argument('[files...]', 'SQL files, read in order as one; none or - reads standard input', [])
    .option('-o, --output <file>', 'write the migration to this file (refused if it exists)')
    .action(async (files: string[], flags: { output?: string }) => {
      const options = program.opts<GlobalOptions>();
      const result = await convertFiles(files, flags.output ?? '<stdout>');
      if (flags.output) await writeNewFile(flags.output, result.yaml);
      if (options.json) {
        const { operations, notes, unwritten } = result;
        process.stdout.write(`${JSON.stringify({ operations, notes, unwritten }, null, 2)}\n`);
      } else if (!flags.output) process.stdout.write(result.yaml);
      process.stderr.write(
        `${flags.output ? `wrote ${flags.output}: ` : ''}${conversionSummary(result)}\n`,
      );
    });

  program
    .command('create')
    .description(
      'write a new migration file in the migrations folder, numbered after the last: a commented template, or --from FILE.sql converted as tidal convert does',
    )
    .argument('<name>', 'what the migration does, in letters, digits, _ and -')
    .option('--dir <dir>', 'the migrations folder', 'migrations')
    .option('--from <file>', 'SQL to convert into the migration')
    .action(async (name: string, flags: { dir: string; from?: string }) => {
      const path = await nextMigrationPath(flags.dir, name);
      const result = flags.from ? await convertFiles([flags.from], path) : undefined;
      await writeNewFile(path, result?.yaml ?? migrationTemplate(name));
      process.stdout.write(`${path}\n`);
      process.stderr.write(
        result
          ? `wrote ${path}: ${conversionSummary(result)}\n`
          : `wrote ${path}: a template; write its operations, then \`tidal validate ${path}\`\n`,
      );
    });

  program
    .command('baseline')
    .description(
      'adopt a database whose schema another tool made (drizzle-kit, Prisma Migrate, node-pg-migrate, Knex): record the schema as it is as the starting point NAME, running nothing, so migrate skips the files that sort up to NAME and starts with the next',
    )
    .argument('<name>', 'the base name of the last migration file the other tool applied')
    .action((name: string) =>
      withTidal(program, async (tidal, options, output) => {
        await tidal.baseline(name);
        print(
          output,
          `schema "${options.schema}" adopted as baseline "${name}": nothing ran; tidal migrate starts with the first file after ${name}`,
          { baseline: name, schema: options.schema },
        );
      }),
    );

  program
    .command('pull')
    .description(
      'write every migration the database records (completed, then the active one) into DIR as the file it was applied from, so a checkout matches the database; refuses, writing nothing, where a file there differs',
    )
    .argument('[dir]', 'the migrations folder', 'migrations')
    .action((dir: string) =>
      withTidal(program, async (tidal, _options, output) => {
        const pulled = await tidal.pull(dir);
        const written = pulled.filter((p) => p.outcome === 'written');
        const lines = pulled.map(
          (p) =>
            `${p.outcome === 'written' ? 'wrote' : 'already there:'} ${p.path}${p.active ? ' (active)' : ''}`,
        );
        print(
          output,
          [
            ...lines,
            `${pulled.length} migration(s) recorded; ${written.length} written into ${dir}`,
          ].join('\n'),
          { dir, migrations: pulled },
        );
      }),
    );

  program
    .command('validate')
    .description(
      'check migration files without running anything: every offline check, and with a connection (--url, TIDAL_DATABASE_URL, DATABASE_URL or PGHOST/PGDATABASE) every check start makes against the database first; exit 0, or 2 listing every problem at its file and field',
    )
    .argument('[paths...]', 'files or folders, in order (default: migrations)', [])
    .option('--offline', 'only the checks that need no database, even with a connection')
    .action(async (paths: string[], flags: { offline?: boolean }) => {
      const options = program.opts<GlobalOptions>();
      const files = await migrationFiles(paths.length > 0 ? paths : ['migrations']);
      const problems: FileProblem[] = [];
      const loaded: LoadedMigration[] = [];
      for (const file of files) {
        try {
          loaded.push(await loadMigrationFile(file));
        } catch (error) {
          if (!(error instanceof InputError)) throw error;
          problems.push(...fileProblems(file, error));
        }
      }
      const online = !flags.offline && connectionGiven(options.url);
      let database: DatabaseValidation | undefined;
      let skipped: string | undefined;
      if (online && problems.length > 0) skipped = 'the files have problems of their own';
      else if (online) {
        try {
          database = await withTidal(program, (tidal) => tidal.validate(loaded));
        } catch (error) {
          if (!(error instanceof InputError)) throw error;
          problems.push(...fileProblems('', error));
        }
      }
      const report = { valid: problems.length === 0, files, problems, database: database ?? null };
      if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        for (const p of problems)
          process.stdout.write(`${[p.file, p.path, p.message].filter(Boolean).join(': ')}\n`);
        process.stdout.write(
          `${validationSummary(files.length, problems.length, online, database, skipped)}\n`,
        );
      }
      if (problems.length > 0)
        throw new ReportedFailure(`validate: ${problems.length} problem(s)`, 2);
    });

  program
    .command('lint')
    .description(
      'check plain SQL migrations (files, or folders searched for .sql files) for statements that lock or break a live database; exit 1 if an error-level finding remains',
    )
    .argument('[paths...]', 'files or folders', [])
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['text', 'json', 'sarif'])
        .default('text'),
    )
    .option('--rules', 'print the rules as a Markdown table and exit')
    .option(
      '--write <dir>',
      'also write each file as a tidal migration in DIR, converted as tidal convert does (never over a file)',
    )
    .action(
      async (
        paths: string[],
        commandOptions: { format: LintFormat; rules?: boolean; write?: string },
      ) => {
        const options = program.opts<GlobalOptions>();
        if (commandOptions.rules) {
          process.stdout.write(`${rulesTable()}\n`);
          return;
        }
        if (paths.length === 0) throw new InputError('lint: name at least one file or folder');
        const result = await lintPaths(paths);
        if (commandOptions.write) await writeConversions(result.files, commandOptions.write);
        const format = options.json ? 'json' : commandOptions.format;
        process.stdout.write(`${renderFindings(format, result)}\n`);
        const errors = result.findings.filter((f) => f.level === 'error').length;
        if (errors > 0) throw new ReportedFailure(`lint: ${errors} error-level finding(s)`, 1);
      },
    );

  addDrainOptions(
    program.command('complete').description('contract the active migration'),
    'the previous version (which complete removes)',
  ).action((flags: DrainFlags) =>
    withTidal(program, async (tidal, _options, output) => {
      const record = await tidal.complete({ waitMs: flags.wait, force: flags.force });
      print(output, `migration "${record.name}" completed`, {
        migration: record.name,
        phase: record.phase,
      });
    }),
  );

  addDrainOptions(
    program.command('rollback').description('undo the active migration'),
    "the active migration's version (which rollback removes)",
  ).action((flags: DrainFlags) =>
    withTidal(program, async (tidal, _options, output) => {
      const record = await tidal.rollback({ waitMs: flags.wait, force: flags.force });
      print(output, `migration "${record.name}" rolled back`, {
        migration: record.name,
        phase: 'rolled_back',
      });
    }),
  );

  program
    .command('status')
    .description('active migration, its phase, backfill progress, last error')
    .action(() =>
      withTidal(program, async (tidal, _options, output) => {
        const status = await tidal.status();
        print(output, renderStatus(status), status);
      }),
    );

  program
    .command('dashboard')
    .description(
      'serve a live web page of the migration and what it does to the database (works from any machine that reaches the database); runs until interrupted',
    )
    .option('--port <port>', 'port to listen on (0: any free port)', nonNegativeInteger, 4600)
    .option(
      '--host <host>',
      'address to listen on (the default is this machine only)',
      DEFAULT_DASHBOARD_HOST,
    )
    .option(
      '--controls',
      'let the page pause, resume and rate the backfill, with the token this prints',
      false,
    )
    .action((flags: { port: number; host: string; controls: boolean }) =>
      withTidal(program, async (tidal, _options, output, connectAgain) => {
        const dashboard = await serveDashboard(tidal, { ...flags, reconnect: connectAgain });
        const opened = dashboard.token
          ? `${dashboard.url}#token=${dashboard.token}`
          : dashboard.url;
        print(
          output,
          dashboard.token
            ? `dashboard at ${dashboard.url}\ncontrols token: ${dashboard.token}\nopen ${opened} to use the controls; Ctrl-C stops`
            : `dashboard at ${dashboard.url} (read only: --controls adds pause, resume and rate); Ctrl-C stops`,
          { url: dashboard.url, token: dashboard.token },
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await dashboard.close();
      }),
    );

  const backfill = program
    .command('backfill')
    .description(
      "control the active migration's backfill from any machine (obeyed within a second)",
    );
  const control = (verb: string, command: BackfillRequest): Promise<void> =>
    withTidal(program, async (tidal, _options, output) => {
      const state = await tidal.backfill(command);
      const rate = state.rowsPerSecond ? `, at most ${state.rowsPerSecond} rows/s` : '';
      print(
        output,
        `backfill of "${state.migration}" ${state.paused ? 'paused' : 'running'}${rate}${state.resumed ? ' (resumed from its checkpoint and finished)' : ''}`,
        { command: verb, ...state },
      );
    });
  backfill
    .command('pause')
    .description('pause the backfill after its current batch')
    .action(() => control('pause', { pause: true }));
  backfill
    .command('resume')
    .description(
      'resume a paused backfill; if no tidal is running it, continue it from its checkpoint',
    )
    .action(() => control('resume', { resume: true }));
  backfill
    .command('rate')
    .description('set a rows-per-second ceiling for the running backfill')
    .argument('<rows/s>', 'rows per second', positiveInteger)
    .action((rate: number) => control('rate', { rowsPerSecond: rate }));

  addDrainOptions(
    program
      .command('migrate')
      .description(
        'start (and complete) every migration in DIR not yet applied, in file-name order',
      )
      .argument('[dir]', 'directory of migration files', 'migrations')
      .option('--complete', 'also complete the last migration', false)
      .option(
        '--as-one',
        'start every file not yet applied together, as one migration named after the last: one version, one backfill per table, one complete or rollback',
        false,
      ),
    'a version a complete removes',
  ).action((dir: string, commandOptions: DrainFlags & { complete: boolean; asOne: boolean }) =>
    withTidal(program, async (tidal, _options, output) => {
      const result = await tidal.migrate(dir, {
        complete: commandOptions.complete,
        asOne: commandOptions.asOne,
        drain: { waitMs: commandOptions.wait, force: commandOptions.force },
      });
      const human =
        result.applied.length === 0
          ? 'nothing to migrate'
          : `applied ${result.applied.join(', ')}${result.active ? `; "${result.active}" is active until \`tidal complete\`` : ''}`;
      print(output, human, result);
    }),
  );

  program
    .command('url')
    .description(
      'a libpq connection URL that selects VERSION and tags its sessions with it, for any client',
    )
    .argument(
      '[version]',
      'migration name, version schema, or the application schema for the base version (default: the newest)',
    )
    .option('--application <name>', "the application's name, kept in the session's tag")
    .action((version: string | undefined, commandOptions: { application?: string }) =>
      withTidal(program, async (tidal, _options, output) => {
        const url = await tidal.versionUrl(version, { application: commandOptions.application });
        print(output, url, { url });
      }),
    );

  program
    .command('latest')
    .description(
      'the latest version schema, migration name, or a URL that selects it (as `tidal url`)',
    )
    .addArgument(
      new Command()
        .createArgument('<what>', 'schema, migration or url')
        .choices(['schema', 'migration', 'url']),
    )
    .action((what: 'schema' | 'migration' | 'url') =>
      withTidal(program, async (tidal, options, output) => {
        if (what === 'url') {
          const url = await tidal.versionUrl();
          print(output, url, { url });
          return;
        }
        const latest = await tidal.latest();
        if (!latest)
          throw new InputError(`no migration has been applied to schema "${options.schema}"`);
        const value = what === 'schema' ? latest.versionSchema : latest.name;
        print(output, value, { [what]: value });
      }),
    );

  program
    .command('demo')
    .description(
      "on a throwaway embedded PostgreSQL, make one change the Big Bang way and tidal's way under live traffic, and show what the application felt",
    )
    .option('--rows <n>', 'rows in the demo table', positiveInteger, 300_000)
    .option('--rate <tx/s>', 'application transactions per second', positiveInteger, 300)
    .option(
      '--phase-ms <ms>',
      'how long the traffic runs before, between and after the steps of each way',
      positiveInteger,
      3000,
    )
    .option(
      '--server <url>',
      'create the throwaway database on this server instead of an embedded one',
    )
    .action(
      async (commandOptions: { rows: number; rate: number; phaseMs: number; server?: string }) => {
        const output = outputOf(program.opts<GlobalOptions>());
        const report = await runDemo({
          rows: commandOptions.rows,
          rate: commandOptions.rate,
          phaseMs: commandOptions.phaseMs,
          serverUrl: commandOptions.server,
          say: (line) => {
            if (!output.json) process.stdout.write(`${line}\n`);
          },
          onEvent: eventRenderer(output),
        });
        print(output, renderDemoReport(report), report);
        const tidal = report.ways.find((w) => w.way === 'tidal');
        if (tidal?.invariants.some((i) => i.expected !== i.actual)) {
          throw new OperationError("the data checks after tidal's way failed");
        }
      },
    );

  return program;
}

/** Lint found error-level findings. */
/** A failure whose findings are already out, in the chosen format: only the exit code is left. */
class ReportedFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** One problem `tidal validate` reports: its file, the field (when one), and what is wrong. */
interface FileProblem {
  file: string;
  path: string;
  message: string;
}

/** The problems an InputError reports; a migration file's come one per field. */
function fileProblems(file: string, error: InputError): FileProblem[] {
  if (error instanceof MigrationFileError)
    return error.problems.map((p) => ({
      file: error.file,
      path: formatPath(p.path),
      message: p.message,
    }));
  // Other messages name their file first.
  return error.message.split('\n').map((line) => {
    const named = /^(\S+\.(?:ya?ml|json)): (.*)$/.exec(line);
    return named
      ? { file: named[1] ?? file, path: '', message: named[2] ?? line }
      : { file, path: '', message: line };
  });
}

/** The migration files of `paths`, in order: a folder's in file-name order. */
async function migrationFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((error: Error) => {
      throw new InputError(`${path}: ${error.message}`);
    });
    if (info.isDirectory()) files.push(...(await listMigrationFiles(path)));
    else files.push(path);
  }
  return files;
}

/** Whether a database is named: by flag, by URL variable, or by libpq's PGHOST/PGDATABASE. */
function connectionGiven(url: string | undefined): boolean {
  return (
    resolveConnectionString(url) !== undefined ||
    !!process.env.PGHOST ||
    !!process.env.PGDATABASE ||
    !!process.env.PGSERVICE
  );
}

function validationSummary(
  files: number,
  problems: number,
  online: boolean,
  database: DatabaseValidation | undefined,
  skipped: string | undefined,
): string {
  const found = problems > 0 ? `${problems} problem(s)` : 'valid';
  const offline = `${files} file(s) checked offline: ${found}`;
  if (!online) return `${offline}; no database named, so none of the checks against one ran`;
  if (!database)
    return `${offline}; the checks against the database did not run${skipped ? `: ${skipped}` : ''}`;
  const deferred = database.deferred
    ? `; not yet planned: ${database.deferred.files.length} (${database.deferred.reason})`
    : '';
  const baselined =
    database.baselined.length > 0 ? `${database.baselined.length} up to the baseline, ` : '';
  return `${offline}; against the database: ${baselined}${database.applied.length} applied and unchanged, ${database.planned.length} planned${deferred}`;
}

/** Reads and converts SQL files (none or `-`: standard input), saying on stderr what became
 *  `sql` and what is left to write in `target`. */
async function convertFiles(files: string[], target: string): Promise<Conversion> {
  await initSqlParser();
  const sources = await Promise.all(
    (files.length > 0 ? files : ['-']).map(async (file) => ({
      file: file === '-' ? '<stdin>' : file,
      text: await (file === '-' ? readStdin() : readInput(file)),
    })),
  );
  const result = convertSql(sources);
  for (const n of result.notes) process.stderr.write(`${n.file}:${n.line}: ${n.message}\n`);
  for (const u of result.unwritten)
    process.stderr.write(`${target}: ${u.path}: left for you to write: ${u.request}\n`);
  return result;
}

/** `tidal lint --write DIR`: each SQL file converted into DIR, named after it. */
async function writeConversions(files: string[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true }).catch((error: Error) => {
    throw new InputError(`lint: cannot make ${dir}: ${error.message}`);
  });
  for (const file of files) {
    const path = join(dir, `${migrationNameOf(file)}.yaml`);
    const result = await convertFiles([file], path);
    if (result.operations.length === 0) {
      process.stderr.write(`${file}: no statements to convert; nothing written\n`);
      continue;
    }
    await writeNewFile(path, result.yaml);
    process.stderr.write(`wrote ${path}: ${conversionSummary(result)}\n`);
  }
}

function conversionSummary(result: Conversion): string {
  const kept = result.operations.filter((o) => 'sql' in o).length;
  const left = result.unwritten.length;
  return `${result.operations.length} operation(s), ${kept} of them sql${
    left > 0
      ? `; ${left} field(s) left for you to write, which tidal refuses until they are written`
      : ''
  }`;
}

/** A file's text; a file that cannot be read is bad input naming it. */
async function readInput(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((error: Error) => {
    throw new InputError(`${file}: ${error.message}`);
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs the CLI and returns the exit code: 0 success, 1 failed operation, 2 bad input. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander already printed usage errors on stderr.
      if (error.exitCode === 0) return 0;
      if (json) {
        const message = error.message.replace(/^error: /, '');
        process.stdout.write(`${JSON.stringify({ error: message, exitCode: 2 })}\n`);
      }
      return 2;
    }
    const message = messageOf(error);
    // The findings are already out, as the chosen format: only the exit code is left to give.
    if (error instanceof ReportedFailure) {
      process.stderr.write(`tidal: ${message}\n`);
      return error.exitCode;
    }
    const code = error instanceof TidalError ? error.exitCode : 1;
    if (json) process.stdout.write(`${JSON.stringify({ error: message, exitCode: code })}\n`);
    process.stderr.write(`tidal: ${message}\n`);
    if (!(error instanceof TidalError) && argv.includes('--verbose') && error instanceof Error) {
      process.stderr.write(`${error.stack}\n`);
    }
    return code;
  }
}

// Run when executed as the `tidal` binary, not when imported by tests.
const invokedAs = process.argv[1] ?? '';
if (/(?:^|[\\/])(?:tidal|main\.js)$/.test(invokedAs)) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
