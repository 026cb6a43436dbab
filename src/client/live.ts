/**
 * Whether a version is live on the database, checked when a release connects. Live: the active
 * migration's version, the newest completed migration's (its schema stays until the next
 * complete), and the base version while no migration has completed.
 */
import { versionAccess } from '../catalog/version-access.js';
import { OperationError } from '../errors.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';
import type { ClientVersion } from './version.js';

/** A migration as tidal's state records it, as far as liveness needs. */
export interface VersionRecord {
  name: string;
  versionSchema: string;
  phase: 'starting' | 'active' | 'completing' | 'completed' | 'rolling_back';
  /** The migrations started as one with it (`tidal migrate --as-one`), which made no version
   *  of their own. */
  asOneWith?: string[];
}

/** Why a version is not live. `unknown`: the version schema is gone and this role cannot read
 *  tidal's state to tell whether it never started or was contracted. */
export type NotLiveReason =
  | 'not-started'
  | 'starting'
  | 'rolling-back'
  | 'contracted'
  | 'other-version-schema'
  | 'started-as-one'
  | 'schema-unusable'
  | 'unknown';

export type Liveness = { live: true } | { live: false; reason: NotLiveReason; message: string };

/** Phases of a migration not completed in which its version schema is there for sessions. */
export const LIVE_PHASES: ReadonlySet<VersionRecord['phase']> = new Set(['active', 'completing']);

/** Connecting to a version that is not live. */
export class VersionNotLiveError extends OperationError {
  override name = 'VersionNotLiveError';
  constructor(
    readonly version: ClientVersion,
    readonly reason: NotLiveReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The liveness of `version` from tidal's records of `version.schema`, completed ones oldest
 * first (the order they completed in), then the one not completed, if any.
 */
export function versionLiveness(
  version: ClientVersion,
  records: readonly VersionRecord[],
): Liveness {
  const completed = records.filter((r) => r.phase === 'completed');
  const newest = completed.at(-1);
  const shown = `version "${version.name}"`;
  const contractedBy = (next: VersionRecord): Liveness => ({
    live: false,
    reason: 'contracted',
    message: `${shown}${version.base ? ' (the base version, before any migration)' : ''} was contracted when "${next.name}" completed: deploy a release built for "${newest?.name ?? next.name}" or newer, or run tidal url for the newest`,
  });
  if (version.base) {
    const first = completed[0];
    return first ? contractedBy(first) : { live: true };
  }
  const record = records.find((r) => r.versionSchema === version.versionSchema);
  if (!record) {
    const named = records.find((r) => r.name === version.name);
    if (named) {
      // Named by its migration: contracted or not ready is said as for its own schema.
      const own = versionLiveness({ ...version, versionSchema: named.versionSchema }, records);
      if (!own.live) return own;
      return {
        live: false,
        reason: 'other-version-schema',
        message: `${shown}: migration "${named.name}" sets version_schema, so its version schema is "${named.versionSchema}", not "${version.versionSchema}": select version "${named.versionSchema}"`,
      };
    }
    const whole = records.find((r) => r.asOneWith?.includes(version.name));
    if (whole) {
      return {
        live: false,
        reason: 'started-as-one',
        message: `${shown} has no version schema of its own: migration "${version.name}" was started as one with "${whole.name}" (tidal migrate --as-one), whose version is "${whole.versionSchema}": deploy a release built for "${whole.name}"`,
      };
    }
    return {
      live: false,
      reason: 'not-started',
      message: `${shown} is not started on this database: run tidal start migrations/${migrationFileName(version)}.yaml first`,
    };
  }
  if (LIVE_PHASES.has(record.phase)) return { live: true };
  switch (record.phase) {
    case 'starting':
      return {
        live: false,
        reason: 'starting',
        message: `${shown} is not started on this database yet: tidal start migrations/${record.name}.yaml has not finished (its version schema comes last; if it was interrupted, running it again finishes it)`,
      };
    case 'rolling_back':
      return {
        live: false,
        reason: 'rolling-back',
        message: `${shown} is being rolled back (tidal rollback finishes it): deploy the release built for ${newest ? `"${newest.name}"` : `the base version "${version.schema}"`}`,
      };
    default: {
      const next = completed[completed.indexOf(record) + 1];
      return next ? contractedBy(next) : { live: true };
    }
  }
}

/**
 * Fails with VersionNotLiveError unless `version` is live and this session can use its schema.
 * Reads `<stateSchema>.migrations` when the role may (no state schema: nothing started); without
 * that privilege it can only tell whether the version schema exists: a version schema that is
 * gone fails (never started, or contracted: it cannot say which), and the base version, whose
 * schema always exists, passes.
 * Run it outside a transaction or at its start: it only reads.
 */
export async function assertVersionLive(db: Queryable, version: ClientVersion): Promise<void> {
  const access = await versionAccess(db, version.versionSchema, version.stateSchema);
  const fail = (reason: NotLiveReason, message: string) => {
    throw new VersionNotLiveError(version, reason, message);
  };
  // Without a state schema tidal never ran here: no version but the base is started.
  if (access.stateReadable || !access.stateExists) {
    const records = access.stateReadable ? await readRecords(db, version) : [];
    const liveness = versionLiveness(version, records);
    if (!liveness.live) fail(liveness.reason, liveness.message);
  } else if (!access.versionSchemaExists) {
    fail(
      'unknown',
      `version "${version.name}" is not started on this database, or was already contracted (its schema "${version.versionSchema}" does not exist, and this role cannot read ${ident(version.stateSchema)}.migrations to tell which): run tidal status, then tidal start migrations/${migrationFileName(version)}.yaml or deploy a newer release`,
    );
  }
  if (!access.versionSchemaUsable) {
    fail(
      'schema-unusable',
      access.versionSchemaExists
        ? `version "${version.name}": this role may not use schema "${version.versionSchema}" (no USAGE), so its search_path would skip it: grant the role privileges on the tables (tidal gives their views the same, and USAGE on the schema)`
        : `version "${version.name}": its schema "${version.versionSchema}" does not exist although tidal's state records the version (dropped by hand?): run tidal status`,
    );
  }
}

/**
 * SQL over a `migrations` row: it made a version. A baseline (`tidal baseline`) is recorded as
 * completed with no version schema: the schema another tool made, which is the base version.
 * Every reader of versions leaves baselines out, tidal's own and the application's alike.
 */
export const MADE_A_VERSION = `version_schema <> ''`;

async function readRecords(db: Queryable, version: ClientVersion): Promise<VersionRecord[]> {
  // `members` through to_jsonb: a state schema of an older layout has no such column.
  const { rows } = await db.query<
    Omit<VersionRecord, 'asOneWith'> & { members: { name: string }[] | null }
  >(
    `SELECT name, version_schema AS "versionSchema", phase, to_jsonb(m) -> 'members' AS members
       FROM ${ident(version.stateSchema)}.migrations m
      WHERE schema = $1 AND ${MADE_A_VERSION} ORDER BY phase <> 'completed', completed_at, started_at`,
    [version.schema],
  );
  return rows.map(({ members, ...r }) => ({ ...r, asOneWith: (members ?? []).map((m) => m.name) }));
}

/** The migration file a version most likely comes from (without its extension). */
export function migrationFileName(version: ClientVersion): string {
  const prefix = `${version.schema}_`;
  return version.name.startsWith(prefix) ? version.name.slice(prefix.length) : version.name;
}
