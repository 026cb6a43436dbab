/**
 * Which versions of the application schema a session may use now, and what a VERSION given by
 * a user (a migration name, a version schema, or the application schema for the base version)
 * names. Live: the active migration's version once its start has finished, and the newest
 * completed one's (the base version while none has completed).
 */
import { LIVE_PHASES, migrationFileName, versionLiveness } from '../client/live.js';
import { tidalVersion } from '../client/version.js';
import { InputError } from '../errors.js';
import { stateExists } from '../state/layout.js';
import type { MigrationRecord } from '../state/store.js';
import type { Session } from './session.js';

/** A version sessions may use now. */
export interface LiveVersion {
  /** The migration's name; the application schema's for the base version. */
  name: string;
  /** The schema a session of this version puts first on its search_path. */
  versionSchema: string;
  /** `base`: before the first migration; `completed`: the newest completed migration's (until
   *  the next complete); `active`: the active migration's. */
  kind: 'base' | 'completed' | 'active';
}

/** What the state says of the versions: the completed migrations and the active one. */
export interface VersionHistory {
  /** The application schema: the base version's name and schema. */
  schema: string;
  /** Oldest first. */
  completed: MigrationRecord[];
  active: MigrationRecord | undefined;
  /** Whether tidal's state schema exists: without it nothing was ever started here. */
  stateExists: boolean;
}

/** Read only: before the state schema exists, the base version is all there is. */
export async function versionHistory(session: Session): Promise<VersionHistory> {
  const { client, settings, store } = session;
  if (!(await stateExists(client, settings.stateSchema))) {
    return { schema: settings.schema, completed: [], active: undefined, stateExists: false };
  }
  return {
    schema: settings.schema,
    completed: await store.completed(),
    active: await store.active(),
    stateExists: true,
  };
}

/** The live versions, oldest first: the newest is the last. */
export function liveVersions(history: VersionHistory): LiveVersion[] {
  const active = history.active && LIVE_PHASES.has(history.active.phase) ? history.active : null;
  return [
    previousVersion(history),
    ...(active
      ? [{ name: active.name, versionSchema: active.versionSchema, kind: 'active' as const }]
      : []),
  ];
}

/** The version the active migration's complete removes: the newest completed one's, or the
 *  base version when none has completed. */
export function previousVersion(history: VersionHistory): LiveVersion {
  const last = history.completed.at(-1);
  return last
    ? { name: last.name, versionSchema: last.versionSchema, kind: 'completed' }
    : { name: history.schema, versionSchema: history.schema, kind: 'base' };
}

/** The version a rollback of `record` removes: its own. */
export function versionOf(record: MigrationRecord): LiveVersion {
  return { name: record.name, versionSchema: record.versionSchema, kind: 'active' };
}

/**
 * The live version `version` names (the newest when undefined). A version that is not live
 * is bad input: the message, the one a release connecting to it gets (client/live.ts), says
 * why (contracted, rolled back, not started, not ready) and what to run.
 */
export async function resolveVersion(session: Session, version?: string): Promise<LiveVersion> {
  const history = await versionHistory(session);
  const live = liveVersions(history);
  const newest = live.at(-1) as LiveVersion;
  if (version === undefined) return newest;
  const found = live.find((v) => namedBy(history.schema, v, version));
  if (found) return found;

  const { schema, stateSchema } = session.settings;
  const records = [...history.completed, ...(history.active ? [history.active] : [])];
  const asked = tidalVersion({ version, schema, stateSchema });
  const liveness = versionLiveness(asked, records);
  const why = liveness.live ? undefined : liveness;
  if (
    why?.reason === 'not-started' &&
    history.stateExists &&
    (await session.store.wasRolledBack(version))
  ) {
    throw new InputError(
      `version "${version}" was rolled back: run tidal start migrations/${migrationFileName(asked)}.yaml to start it again, or run tidal url for the newest`,
    );
  }
  throw new InputError(why?.message ?? `version "${version}" is not live on this database`);
}

/** Whether `version` names `v`: its migration name, its version schema, or the version schema
 *  without the application schema's prefix (a file's `version_schema`). */
function namedBy(
  schema: string,
  v: { name: string; versionSchema: string },
  version: string,
): boolean {
  return (
    v.name === version || v.versionSchema === version || v.versionSchema === `${schema}_${version}`
  );
}
