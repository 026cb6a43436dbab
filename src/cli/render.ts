import { describeSession } from '../lifecycle/drain.js';
import { type SessionGroup, type SessionsByVersion, UNTAGGED_NOTE } from '../lifecycle/sessions.js';
import type { Obligation } from '../planner/obligations.js';
import { lockName, type PlanPhase, type PlanReport } from '../planner/plan-report.js';
import type { MigrationStatus, TidalEvent } from '../tidal.js';

/** Where command output goes: human text, or JSON on stdout for machines. */
export interface Output {
  json: boolean;
  verbose: boolean;
}

const isTty = () => Boolean(process.stderr.isTTY);

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

/**
 * Renders library events. Human mode writes to stderr (stdout keeps the result): a line per
 * phase, a live progress line per backfilled table on a terminal, lock retries, and with
 * --verbose every statement. JSON mode writes one JSON object per event on stdout.
 */
export function eventRenderer(output: Output): (event: TidalEvent) => void {
  let progressLineOpen = false;
  const endProgressLine = () => {
    if (progressLineOpen) process.stderr.write('\n');
    progressLineOpen = false;
  };
  return (event) => {
    if (output.json) {
      if (event.type === 'step-start' && !output.verbose) return;
      const { type, ...rest } = event;
      const data =
        'step' in rest
          ? { ...rest, step: { sql: rest.step.sql, summary: rest.step.summary } }
          : rest;
      process.stdout.write(`${JSON.stringify({ event: type, ...data })}\n`);
      return;
    }
    switch (event.type) {
      case 'phase':
        endProgressLine();
        process.stderr.write(`${event.migration}: ${event.phase}\n`);
        break;
      case 'notice':
        endProgressLine();
        process.stderr.write(`${event.message}\n`);
        break;
      case 'path':
        endProgressLine();
        process.stderr.write(`${event.migration}: ${event.operation}: ${event.path}\n`);
        break;
      case 'obligation':
        endProgressLine();
        process.stderr.write(`${event.migration}: ${renderObligation(event)}\n`);
        break;
      case 'step-start':
        if (output.verbose) {
          endProgressLine();
          process.stderr.write(
            `  ${event.step.summary}\n    ${event.step.sql.replace(/\n/g, '\n    ')}\n`,
          );
        }
        break;
      case 'step-done':
        if (output.verbose)
          process.stderr.write(
            `    done in ${event.ms} ms${event.attempts > 1 ? ` after ${event.attempts} attempts` : ''}\n`,
          );
        break;
      case 'sessions-wait': {
        endProgressLine();
        process.stderr.write(
          `${event.migration}: waiting for ${event.sessions.length} session(s) of version "${event.version}" to disconnect (${formatDuration(event.secondsLeft)} left):\n${event.sessions.map((s) => `  ${describeSession(s)}`).join('\n')}\n`,
        );
        break;
      }
      case 'lock-retry': {
        endProgressLine();
        const who = event.blockers[0];
        const held = who
          ? ` (held by pid ${who.pid}${who.applicationName ? ` "${who.applicationName}"` : ''})`
          : '';
        process.stderr.write(
          `  lock not available for: ${event.step.summary}${held}; retry ${event.attempt} in ${event.waitMs} ms\n`,
        );
        break;
      }
      case 'backfill': {
        const total = Math.max(event.rowsTotal, event.rowsDone);
        const percent = total > 0 ? Math.min(100, (100 * event.rowsDone) / total) : 100;
        const eta =
          event.rowsPerSecond > 0
            ? (total - event.rowsDone) / event.rowsPerSecond
            : Number.POSITIVE_INFINITY;
        const line = `  ${event.pass === 'verify' ? 'verify' : 'backfill'} ${event.table}: ${event.rowsDone}/${total} rows (${percent.toFixed(1)}%), ${formatRate(event.rowsPerSecond)}${event.workers > 1 ? ` (${event.workers} workers)` : ''}${event.done ? ', done' : `, ETA ${formatDuration(eta)}`}${!event.done && event.throttle ? ` (${event.throttle})` : ''}`;
        if (isTty()) {
          process.stderr.write(`\r\x1b[2K${line}`);
          progressLineOpen = true;
          if (event.done) endProgressLine();
        } else if (event.done) {
          process.stderr.write(`${line}\n`);
        }
        break;
      }
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
      const verifying = b.done && !b.verified && a.phase === 'starting';
      const done = verifying ? b.rowsVerified : b.rowsDone;
      const total = Math.max(b.rowsTotal ?? 0, done);
      const percent = total > 0 ? Math.min(100, (100 * done) / total).toFixed(1) : '100.0';
      const running = !b.done || verifying;
      const workers = (b.workers ?? 1) > 1 ? ` (${b.workers} workers)` : '';
      const rate =
        running && b.rowsPerSecond ? `, ${Math.round(b.rowsPerSecond)} rows/s${workers}` : '';
      const throttle = running && b.throttle ? `, ${b.throttle}` : '';
      const state = !b.done
        ? ''
        : verifying
          ? ', filled, verifying'
          : b.verified
            ? ', filled and verified'
            : ', filled (verification skipped)';
      lines.push(
        `  ${verifying ? 'verify' : 'backfill'} ${b.table}: ${done}/${total} rows (${percent}%)${state}${rate}${throttle}, updated ${b.updatedAt}`,
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
  lines.push(`applied migrations: ${status.applied}`);
  if (status.baseline) {
    lines.push(
      `baseline: ${status.baseline.name} (adopted ${status.baseline.adoptedAt}; the files up to it were applied before tidal)`,
    );
  }
  lines.push(...renderSessions(status.sessions));
  return lines.join('\n');
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
