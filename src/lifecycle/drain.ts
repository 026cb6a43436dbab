/**
 * complete and rollback each remove a version; a session still using it would fail from then
 * on. Before any step runs they look for tagged sessions of that version: refuse, wait for them
 * to go, or go on anyway, as asked. Untagged sessions cannot be told and never hold them up.
 */
import { OperationError } from '../errors.js';
import { sleep } from '../pg/backoff.js';
import type { Session } from './session.js';
import { type ConnectedSession, sessionsByVersion, sessionsOf, UNTAGGED_NOTE } from './sessions.js';
import { type LiveVersion, liveVersions, type VersionHistory } from './versions.js';

/** What complete and rollback do while sessions of the version they remove are connected. */
export interface DrainOptions {
  /** Wait up to this many milliseconds for them to disconnect, instead of refusing at once. */
  waitMs?: number;
  /** Go on while they are connected (they fail once the version is gone). */
  force?: boolean;
}

/** How often a wait looks again, and how often it says who is left when nobody left. */
const POLL_MS = 1_000;
const REPORT_EVERY_MS = 5_000;

/** The command that removes a version, for its messages. */
export interface RemovingCommand {
  verb: 'complete' | 'rollback';
  /** The active migration. */
  migration: string;
  /** What to do before running it again: which release to deploy. */
  advice: string;
}

/** Returns once no tagged session of `removed` is connected (or `force`); throws when asked not
 *  to wait, or when the wait is over. */
export async function awaitVersionDrained(
  session: Session,
  history: VersionHistory,
  removed: LiveVersion,
  command: RemovingCommand,
  options: DrainOptions,
): Promise<void> {
  const { verb, migration } = command;
  const live = liveVersions(history);
  const known = live.some((v) => v.versionSchema === removed.versionSchema)
    ? live
    : [...live, removed];
  const look = async () => sessionsByVersion(session.client, known);
  const first = await look();
  if (first.untagged.count > 0) {
    session.emit({
      type: 'notice',
      message: `${first.untagged.count} untagged session(s) connected, not counted (${UNTAGGED_NOTE}):\n${sessionLines(first.untagged.sessions)}`,
    });
  }
  let left = sessionsOf(first, removed.versionSchema);
  if (left.length === 0) return;
  const version = `version "${removed.name}"`;
  if (options.force) {
    session.emit({
      type: 'notice',
      message: `going on (--force) with ${left.length} session(s) of ${version} connected; they fail once ${verb} removes it:\n${sessionLines(left)}`,
    });
    return;
  }
  const how = `\`tidal ${verb} --wait [DURATION]\` waits for them to disconnect, \`tidal ${verb} --force\` goes on anyway`;
  if (options.waitMs === undefined) {
    throw new OperationError(
      `${verb} of "${migration}" refused, nothing was changed: ${left.length} session(s) of ${version} (schema ${removed.versionSchema}) are connected, and ${verb} removes that version:\n${sessionLines(left)}\n${command.advice}; ${how}`,
    );
  }
  const deadline = Date.now() + options.waitMs;
  let reported = '';
  let reportedAt = 0;
  for (;;) {
    const who = left.map((s) => s.pid).join(',');
    if (who !== reported || Date.now() - reportedAt >= REPORT_EVERY_MS) {
      session.emit({
        type: 'sessions-wait',
        migration,
        version: removed.name,
        versionSchema: removed.versionSchema,
        sessions: left,
        secondsLeft: Math.max(0, Math.round((deadline - Date.now()) / 1000)),
      });
      reported = who;
      reportedAt = Date.now();
    }
    if (Date.now() >= deadline) {
      throw new OperationError(
        `${verb} of "${migration}" refused after waiting ${Math.round(options.waitMs / 1000)}s, nothing was changed: ${left.length} session(s) of ${version} (schema ${removed.versionSchema}) are still connected:\n${sessionLines(left)}\n${command.advice}; ${how}`,
      );
    }
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
    left = sessionsOf(await look(), removed.versionSchema);
    if (left.length === 0) {
      session.emit({
        type: 'notice',
        message: `no session of ${version} is connected any more: ${verb} goes on`,
      });
      return;
    }
  }
}

/** One line per session: pid, application, address, since when. */
export function sessionLines(sessions: readonly ConnectedSession[]): string {
  return sessions.map((s) => `  ${describeSession(s)}`).join('\n');
}

export function describeSession(s: ConnectedSession): string {
  const application = s.application ? `"${s.application}"` : '(no application name)';
  return `pid ${s.pid} ${application} from ${s.clientAddress ?? 'local'}, connected since ${s.since}`;
}
