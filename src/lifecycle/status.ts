import { driftOf, tidalLookalikes } from '../planner/drift.js';
import { stateExists, upgradeStateIfPresent } from '../state/layout.js';
import { appliedFiles, type BackfillRecord, type MigrationRecord } from '../state/store.js';
import type { Session } from './session.js';
import { type SessionsByVersion, sessionsByVersion } from './sessions.js';
import { liveVersions, versionHistory } from './versions.js';

export interface MigrationStatus {
  schema: string;
  active: {
    name: string;
    versionSchema: string;
    phase: MigrationRecord['phase'];
    startedAt: string;
    lastError: string | null;
    /** The files started as one with it (`migrate --as-one`), before it; empty for one file. */
    asOneWith: string[];
    backfills: BackfillStatus[];
    /** What start made that is gone or disabled (changed by hand); complete refuses while any. */
    drift: string[];
  } | null;
  latest: { name: string; versionSchema: string; completedAt: string | null } | null;
  /** Files applied (completed), each file of a whole started as one counted. */
  applied: number;
  /** The starting point `tidal baseline` recorded, when the schema was adopted from another
   *  tool: the files up to it count as applied. */
  baseline: { name: string; adoptedAt: string | null } | null;
  /** With no migration active: objects named like tidal's own that are still there. */
  leftovers: string[];
  /** The sessions connected to the database now, by the version they use. */
  sessions: SessionsByVersion;
}

/** A table's backfill as status reports it: its record, where it stands, and how long the
 *  running pass has left. */
export interface BackfillStatus extends BackfillRecord {
  standing: BackfillStanding;
  /** Seconds the running pass (the fill, or the verification after it) has left at its last
   *  rows/s, as of `updatedAt`; null once it is done, or before its rate is known. */
  etaSeconds: number | null;
}

/** Where a table's backfill stands: the pass running, if one is, and its rows of its total. */
export interface BackfillStanding {
  /** null: the fill is done, and so is its verification (or start finished without it). */
  running: 'fill' | 'verify' | null;
  rows: number;
  total: number;
}

function backfillStanding(
  backfill: BackfillRecord,
  phase: MigrationRecord['phase'],
): BackfillStanding {
  const { rowsDone, rowsTotal, rowsVerified } = backfill;
  // rows_total begins as the planner's estimate and rises as the rows counted pass it.
  if (!backfill.done)
    return { running: 'fill', rows: rowsDone, total: Math.max(rowsTotal ?? 0, rowsDone) };
  // The verification walks the filled rows and any written since.
  if (!backfill.verified && phase === 'starting')
    return {
      running: 'verify',
      rows: rowsVerified,
      total: Math.max(rowsTotal ?? 0, rowsDone, rowsVerified),
    };
  // Done: the rows the fill counted, not an estimate.
  return { running: null, rows: rowsDone, total: rowsDone };
}

/** A stored backfill with its ETA, as of its last update. */
export function backfillStatus(
  backfill: BackfillRecord,
  phase: MigrationRecord['phase'],
): BackfillStatus {
  const standing = backfillStanding(backfill, phase);
  const { running, rows, total } = standing;
  const rate = backfill.rowsPerSecond ?? 0;
  return {
    ...backfill,
    standing,
    etaSeconds: running && rate > 0 ? Math.ceil((total - rows) / rate) : null,
  };
}

/** The newest migration (active or completed) and its version schema. */
export interface LatestMigration {
  name: string;
  versionSchema: string;
}

/** The active migration and how far it got, the latest completed one, and (with none active)
 *  what looks like tidal's but is not recorded. */
export async function migrationStatus(session: Session): Promise<MigrationStatus> {
  const { client, settings, store } = session;
  const { schema } = settings;
  if (!(await upgradeStateIfPresent(client, settings.stateSchema))) {
    return {
      schema,
      active: null,
      latest: null,
      applied: 0,
      baseline: null,
      leftovers: await tidalLookalikes(client, schema),
      sessions: await sessionsByVersion(client, liveVersions(await versionHistory(session))),
    };
  }
  const active = await store.active();
  const completed = await store.completed();
  const baseline = await store.baseline();
  const last = completed.at(-1);
  return {
    schema,
    active: active
      ? {
          name: active.name,
          versionSchema: active.versionSchema,
          phase: active.phase,
          startedAt: active.startedAt,
          lastError: active.lastError,
          asOneWith: active.members.map((m) => m.name),
          backfills: (await store.backfills(active.name)).map((b) =>
            backfillStatus(b, active.phase),
          ),
          drift:
            active.phase === 'active' || active.phase === 'starting'
              ? await driftOf(client, active.plan, active.progress, settings.stateSchema)
              : [],
        }
      : null,
    latest: last
      ? { name: last.name, versionSchema: last.versionSchema, completedAt: last.completedAt }
      : null,
    applied: appliedFiles(completed).length,
    baseline: baseline ? { name: baseline.name, adoptedAt: baseline.completedAt } : null,
    leftovers: active ? [] : await tidalLookalikes(client, schema),
    sessions: await sessionsByVersion(
      client,
      liveVersions({ schema, completed, active, stateExists: true }),
    ),
  };
}

/** The newest migration (active or completed); undefined when none is recorded. Read only. */
export async function latestMigration(session: Session): Promise<LatestMigration | undefined> {
  if (!(await stateExists(session.client, session.settings.stateSchema))) return undefined;
  const latest = await session.store.latest();
  return latest ? { name: latest.name, versionSchema: latest.versionSchema } : undefined;
}
