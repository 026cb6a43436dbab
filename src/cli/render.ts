import type { BackfillProgress } from '../backfill/run.js';
import { describeSession } from '../lifecycle/drain.js';
import { type SessionGroup, type SessionsByVersion, UNTAGGED_NOTE } from '../lifecycle/sessions.js';
import type { Obligation } from '../planner/obligations.js';
import { lockName, type PlanPhase, type PlanReport } from '../planner/plan-report.js';
import type { MigrationStatus, TidalEvent } from '../tidal.js';

/** How often a running backfill prints its progress line when stderr is not a terminal. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 10_000;

/** Where command output goes: human text, or JSON on stdout for machines. */
export interface Output {
  json: boolean;
  verbose: boolean;
  /** Without a terminal, the least time between two progress lines of a pass over a table
   *  (default DEFAULT_PROGRESS_INTERVAL_MS); 0 prints only the line of each pass done. */
  progressIntervalMs?: number;
}

/** Where the event renderer writes and what time it is: the process's own unless a test
 *  passes its own. */
export interface RenderTarget {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** stderr is a terminal: the progress line is redrawn in place. */
  terminal: boolean;
  now: () => Date;
}

export function processTarget(): RenderTarget {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    terminal: Boolean(process.stderr.isTTY),
    now: () => new Date(),
  };
}

function formatRate(rowsPerSecond: number): string {
  return rowsPerSecond >= 1000
    ? `${(rowsPerSecond / 1000).toFixed(1)}k rows/s`
    : `${Math.round(rowsPerSecond)} rows/s`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes}m${Math.round(seconds % 60)}s`
    : `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

/** A pass over a table in words: rows done of the total, rows/s, workers, then the ETA and
 *  what holds it, or that it is done. The same line is redrawn on a terminal and printed
 *  every --progress-interval elsewhere. */
export function progressLine(progress: BackfillProgress): string {
  // Once done, the rows counted are the total: rowsTotal began as the planner's estimate.
  const total = progress.done ? progress.rowsDone : Math.max(progress.rowsTotal, progress.rowsDone);
  const percent = total > 0 ? Math.min(100, (100 * progress.rowsDone) / total) : 100;
  const eta =
    progress.rowsPerSecond > 0
      ? (total - progress.rowsDone) / progress.rowsPerSecond
      : Number.POSITIVE_INFINITY;
  const workers = progress.workers > 1 ? ` (${progress.workers} workers)` : '';
  const state = progress.done
    ? ', done'
    : `, ETA ${formatDuration(eta)}${progress.throttle ? ` (${progress.throttle})` : ''}`;
  return `  ${progress.pass === 'verify' ? 'verify' : 'backfill'} ${progress.table}: ${progress.rowsDone}/${total} rows (${percent.toFixed(1)}%), ${formatRate(progress.rowsPerSecond)}${workers}${state}`;
}

/**
 * Renders library events. Human mode writes to stderr (stdout keeps the result): a line per
 * phase, a progress line per pass over a backfilled table (redrawn in place on a terminal,
 * else printed every `progressIntervalMs` and when done), lock retries, and with --verbose
 * every statement. JSON mode writes one JSON object per event on stdout, each with the time
 * it was written (`at`).
 */
export function eventRenderer(
  output: Output,
  target: RenderTarget = processTarget(),
): (event: TidalEvent) => void {
  const { stdout, terminal, now } = target;
  const intervalMs = output.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  let progressLineOpen = false;
  const endProgressLine = () => {
    if (progressLineOpen) target.stderr('\n');
    progressLineOpen = false;
  };
  const stderr = (text: string) => {
    endProgressLine();
    target.stderr(text);
  };
  /** Without a terminal: when each running pass over a table last printed its line (or began). */
  const lastLineAt = new Map<string, number>();
  const renderProgress = (progress: BackfillProgress) => {
    const line = progressLine(progress);
    if (terminal) {
      target.stderr(`\r\x1b[2K${line}`);
      progressLineOpen = true;
      if (progress.done) endProgressLine();
      return;
    }
    const pass = `${progress.pass} ${progress.table}`;
    const at = now().getTime();
    if (progress.done) {
      lastLineAt.delete(pass);
      target.stderr(`${line}\n`);
      return;
    }
    const last = lastLineAt.get(pass);
    // The first report starts the interval: a pass done within it prints only its last line.
    if (last === undefined) lastLineAt.set(pass, at);
    else if (intervalMs > 0 && at - last >= intervalMs) {
      lastLineAt.set(pass, at);
      target.stderr(`${line}\n`);
    }
  };
  return (event) => {
    if (output.json) {
      if (event.type === 'step-start' && !output.verbose) return;
      const { type, ...rest } = event;
      const data =
        'step' in rest
          ? { ...rest, step: { sql: rest.step.sql, summary: rest.step.summary } }
          : rest;
      stdout(`${JSON.stringify({ event: type, at: now().toISOString(), ...data })}\n`);
      return;
    }
    switch (event.type) {
      case 'phase':
        stderr(`${event.migration}: ${event.phase}\n`);
        break;
      case 'notice':
        stderr(`${event.message}\n`);
        break;
      case 'path':
        stderr(`${event.migration}: ${event.operation}: ${event.path}\n`);
        break;
      case 'obligation':
        stderr(`${event.migration}: ${renderObligation(event)}\n`);
        break;
      case 'step-start':
        if (output.verbose)
          stderr(`  ${event.step.summary}\n    ${event.step.sql.replace(/\n/g, '\n    ')}\n`);
        break;
      case 'step-done':
        if (output.verbose)
          target.stderr(
            `    done in ${event.ms} ms${event.attempts > 1 ? ` after ${event.attempts} attempts` : ''}\n`,
          );
        break;
      case 'sessions-wait': {
        stderr(
          `${event.migration}: waiting for ${event.sessions.length} session(s) of version "${event.version}" to disconnect (${formatDuration(event.secondsLeft)} left):\n${event.sessions.map((s) => `  ${describeSession(s)}`).join('\n')}\n`,
        );
        break;
      }
      case 'lock-retry': {
        const who = event.blockers[0];
        const held = who
          ? ` (held by pid ${who.pid}${who.applicationName ? ` "${who.applicationName}"` : ''})`
          : '';
        stderr(
          `  lock not available for: ${event.step.summary}${held}; retry ${event.attempt} in ${event.waitMs} ms\n`,
        );
        break;
      }
      case 'backfill':
        renderProgress(event);
        break;
    }
  };
}

export function renderStatus(status: MigrationStatus): string {
  const lines = [`schema: ${status.schema}`];
  if (status.active) {
    const a = status.active;
    lines.push(
      `active migration: ${a.name} (${a.phase}), version schema ${a.versionSchema}, started ${a.startedAt}`,
    );
    if (a.asOneWith.length > 0) lines.push(`  started as one with: ${a.asOneWith.join(', ')}`);
    for (const b of a.backfills) {
      // After the fill, the line follows the verification pass over the same rows.
      const { running, rows: done, total } = b.standing;
      const verifying = running === 'verify';
      const percent = total > 0 ? Math.min(100, (100 * done) / total).toFixed(1) : '100.0';
      const workers = (b.workers ?? 1) > 1 ? ` (${b.workers} workers)` : '';
      const rate =
        running && b.rowsPerSecond ? `, ${Math.round(b.rowsPerSecond)} rows/s${workers}` : '';
      const eta = running && b.etaSeconds !== null ? `, ETA ${formatDuration(b.etaSeconds)}` : '';
      const throttle = running && b.throttle ? `, ${b.throttle}` : '';
      const state = !b.done
        ? ''
        : verifying
          ? ', filled, verifying'
          : b.verified
            ? ', filled and verified'
            : ', filled (verification skipped)';
      lines.push(
        `  ${verifying ? 'verify' : 'backfill'} ${b.table}: ${done}/${total} rows (${percent}%)${state}${rate}${eta}${throttle}, updated ${b.updatedAt}`,
      );
    }
    if (a.lastError) lines.push(`  last error: ${a.lastError}`);
    if (a.drift.length > 0) {
      lines.push(
        '  changed by hand since start (complete refuses until it is undone or rolled back):',
      );
      for (const d of a.drift) lines.push(`    ${d}`);
    }
  } else {
    lines.push('active migration: none');
    if (status.leftovers.length > 0) {
      lines.push(
        "  yet objects named like tidal's own are on the tables (left by a migration whose state is gone?); tidal leaves them alone:",
      );
      for (const l of status.leftovers) lines.push(`    ${l}`);
    }
  }
  lines.push(
    status.latest
      ? `latest completed: ${status.latest.name} (version schema ${status.latest.versionSchema}, completed ${status.latest.completedAt})`
      : 'latest completed: none',
  );
  lines.push(`applied: ${appliedInWords(status)}`);
  if (status.baseline) {
    lines.push(
      `baseline: ${status.baseline.name} (adopted ${status.baseline.adoptedAt}; the files up to it were applied before tidal)`,
    );
  }
  lines.push(...renderSessions(status.sessions));
  return lines.join('\n');
}

/** The files completed, and the one active, which counts once it is completed. */
function appliedInWords(status: MigrationStatus): string {
  const n = status.applied;
  const completed =
    n === 0
      ? 'no migration file completed yet'
      : `${n} migration file${n === 1 ? '' : 's'} completed`;
  const a = status.active;
  if (!a) return `${completed}; none active`;
  const whole =
    a.asOneWith.length > 0
      ? ` and the ${a.asOneWith.length} file${a.asOneWith.length === 1 ? '' : 's'} started as one with it`
      : '';
  return `${completed}; active, counted once completed: ${a.name}${whole} (${a.phase})`;
}

/** The connected sessions of each version, then the untagged ones with how to tag them. */
export function renderSessions(sessions: SessionsByVersion): string[] {
  const lines = ['connected sessions:'];
  for (const v of sessions.versions) {
    const version = v.live
      ? `version "${v.name}" (schema ${v.versionSchema})`
      : `version schema ${v.versionSchema} (not live: these sessions fail)`;
    lines.push(`  ${version}: ${describeGroup(v)}`);
  }
  lines.push(`  untagged: ${describeGroup(sessions.untagged)}`);
  if (sessions.untagged.count > 0) lines.push(`    ${UNTAGGED_NOTE}`);
  return lines;
}

function describeGroup(group: SessionGroup): string {
  if (group.count === 0) return 'none';
  const applications =
    group.applications.length > 0 ? group.applications.join(', ') : 'no application name';
  return `${group.count} (${applications}; from ${group.clientAddresses.join(', ')}; oldest since ${group.oldestSince})`;
}

/** One obligation in words: for whom, then what. */
export function renderObligation(o: Obligation): string {
  const whom = o.concerns === 'both' ? 'both versions' : `the ${o.concerns}`;
  return `for ${whom}: ${o.sentence}`;
}

/** Longer statements (a trigger function's body) are cut in the text of `tidal plan`. */
const PLAN_SQL_WIDTH = 240;

const PHASE_TITLES: Record<PlanPhase, string> = {
  start: 'start: expand',
  'version schema': 'start: the new version schema',
  backfill: 'start: backfill',
  'after backfill': 'start: validate, once the backfill is done',
  complete: 'complete: contract',
  rollback: 'rollback (instead of complete)',
};

function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

const about = (seconds: number | null) =>
  seconds === null ? 'unknown' : `~${formatDuration(seconds)}`;

/** `tidal plan`: each phase's statements with their locks, the backfill, estimates, and the
 *  transactions the first lock would wait for. */
export function renderPlan(report: PlanReport): string {
  const lines = [
    `plan of "${report.migration}" on schema "${report.schema}"; the new version will be schema "${report.versionSchema}"`,
  ];
  if (report.paths.length > 0) {
    lines.push('', 'how each operation makes its change:');
    for (const p of report.paths) lines.push(`  ${p.operation}: ${p.path}`);
  }
  if (report.missingPrivileges?.length) {
    lines.push('', 'start would refuse: the role tidal connects as lacks');
    for (const m of report.missingPrivileges) lines.push(`  ${m}`);
  }
  if (report.obligations.length > 0) {
    lines.push(
      '',
      `what each version sees and must do while "${report.migration}" is active, and after (the README explains each):`,
    );
    for (const o of report.obligations) lines.push(`  ${renderObligation(o)}`);
  }
  lines.push('', 'open transactions now:');
  if (report.openTransactions.length === 0) lines.push('  none older than a second');
  for (const t of report.openTransactions) {
    lines.push(
      `  pid ${t.pid} (${t.application || 'no application name'}, ${t.state}) open for ${formatDuration(t.ageSeconds)}`,
    );
    for (const lock of t.locks) {
      lines.push(
        `    holds ${lock.mode} on "${lock.table}": a statement that needs ACCESS EXCLUSIVE on it waits for this transaction (tidal gives up each try after lock_timeout and retries)`,
      );
    }
    if (t.query) lines.push(`    last query: ${t.query.replace(/\s+/g, ' ').slice(0, 200)}`);
  }
  let number = 0;
  for (const phase of Object.keys(PHASE_TITLES) as PlanPhase[]) {
    const steps = report.steps.filter((s) => s.phase === phase);
    if (phase === 'backfill') {
      if (report.backfills.length === 0) continue;
      lines.push('', PHASE_TITLES[phase]);
      for (const b of report.backfills) {
        const rows =
          b.rows === null
            ? 'rows unknown (never analysed)'
            : `about ${Math.round(b.rows).toLocaleString('en-US')} rows`;
        const walk =
          b.walkKey.length > 0 ? `by key (${b.walkKey.join(', ')})` : 'by physical location';
        lines.push(
          `  "${b.table}": ${rows}, ${formatBytes(b.bytes)}; ${about(b.estimatedSeconds)} in short batches (row locks only), walked ${walk}, then verified`,
        );
      }
      continue;
    }
    if (steps.length === 0) continue;
    lines.push('', PHASE_TITLES[phase]);
    for (const step of steps) {
      number++;
      const table = step.table ? ` on "${step.table.name}"` : '';
      const effect =
        step.effect === 'scan'
          ? `, reads every row (${about(step.estimatedSeconds)})`
          : step.effect === 'rewrite'
            ? `, rewrites the table (${about(step.estimatedSeconds)})`
            : '';
      const also = (step.alsoLocks ?? [])
        .map((l) => `, ${lockName(l.lock)} on "${l.table.name}"`)
        .join('');
      lines.push(
        `  ${String(number).padStart(3)}. ${lockName(step.lock)}${table}${also}${effect}: ${step.summary}`,
      );
      const sql = step.sql.replace(/\n\s*/g, ' ');
      lines.push(
        `       ${sql.length > PLAN_SQL_WIDTH ? `${sql.slice(0, PLAN_SQL_WIDTH)}... (${sql.length} characters; --json shows it whole)` : sql}`,
      );
    }
  }
  lines.push(
    '',
    `Estimates assume ${report.assumptions.backfillRowsPerSecond.toLocaleString('en-US')} rows/s for the backfill and ${formatBytes(report.assumptions.scanBytesPerSecond)}/s for a scan; \`npm run bench:backfill\` measures a machine's own.`,
  );
  return lines.join('\n');
}
