/** Reads of replication statistics: how far standbys are behind the primary, and how much WAL
 *  the primary writes. */
import type { Queryable } from '../pg/queryable.js';

/** A standby streaming from this primary, as pg_stat_replication shows it: `state` is null when
 *  the role may not see other users' sessions (without pg_monitor or pg_read_all_stats). */
export interface StreamingStandby {
  state: string | null;
  /** Replay lag in milliseconds; 0 when none is reported. */
  lagMs: number;
}

/** The standbys streaming from the primary `db` is connected to. */
export async function streamingStandbys(db: Queryable): Promise<StreamingStandby[]> {
  const { rows } = await db.query<{ lag_ms: number | null; state: string | null }>(
    `SELECT state, coalesce(extract(epoch FROM replay_lag) * 1000, 0)::float8 AS lag_ms
       FROM pg_catalog.pg_stat_replication`,
  );
  return rows.map((r) => ({ state: r.state, lagMs: Number(r.lag_ms ?? 0) }));
}

/** The largest replay lag of the standbys streaming from the primary `db` is connected to
 *  (null when none streams), or why it cannot be read. */
export async function primaryReplayLag(
  db: Queryable,
): Promise<{ lagMs: number | null } | { unreadable: string }> {
  const standbys = await streamingStandbys(db);
  // Without pg_monitor (or pg_read_all_stats) the columns of other users' sessions are NULL.
  if (standbys.some((s) => s.state === null))
    return { unreadable: 'pg_stat_replication is hidden from this role; grant pg_monitor' };
  return { lagMs: standbys.length > 0 ? Math.max(...standbys.map((s) => s.lagMs)) : null };
}

/** Whether `db` is connected to a standby, and how far its replay is behind what it received
 *  (null when it has replayed nothing yet). */
export async function replayLag(
  db: Queryable,
): Promise<{ standby: boolean; lagMs: number | null } | undefined> {
  const { rows } = await db.query<{ standby: boolean; lag_ms: number | null }>(
    `SELECT pg_catalog.pg_is_in_recovery() AS standby,
            CASE WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() THEN 0
                 ELSE extract(epoch FROM now() - pg_catalog.pg_last_xact_replay_timestamp()) * 1000
            END::float8 AS lag_ms`,
  );
  const row = rows[0];
  return row && { standby: row.standby, lagMs: row.lag_ms };
}

/** The server's current WAL position, and the bytes written since `since` (0 without it). */
export async function walWritten(
  db: Queryable,
  since: string | null,
): Promise<{ lsn: string; bytes: number }> {
  const { rows } = await db.query<{ lsn: string; bytes: string }>(
    `SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn,
            coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), $1::pg_lsn), 0)::float8 AS bytes`,
    [since],
  );
  const row = rows[0];
  return { lsn: row?.lsn ?? '0/0', bytes: Number(row?.bytes ?? 0) };
}

/**
 * WAL written since the last checkpoint began (its redo point), and how much forces the next
 * one by volume: PostgreSQL starts a checkpoint once max_wal_size / (1 +
 * checkpoint_completion_target) has been written since the last.
 */
export async function walSinceCheckpoint(
  db: Queryable,
): Promise<{ bytes: number; forcingBytes: number }> {
  const { rows } = await db.query<{ bytes: number; forcing: number }>(
    `SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), c.redo_lsn)::float8 AS bytes,
            (pg_catalog.pg_size_bytes(pg_catalog.current_setting('max_wal_size'))
              / (1 + pg_catalog.current_setting('checkpoint_completion_target')::float8))::float8 AS forcing
       FROM pg_catalog.pg_control_checkpoint() c`,
  );
  const row = rows[0];
  return { bytes: Number(row?.bytes ?? 0), forcingBytes: Number(row?.forcing ?? 0) };
}
