/**
 * Reads of what the application feels while a migration runs: the database's transaction
 * counters (pg_stat_database), the sessions waiting on locks and whom they wait for, and the
 * longest open transaction. The throttle signals and `tidal dashboard` read these.
 */
import type { Queryable } from '../pg/queryable.js';
import { ownSession } from './activity.js';

/** This database's counters since the statistics were last reset; they only grow. */
export interface DatabaseCounters {
  commits: number;
  rollbacks: number;
  deadlocks: number;
}

/** The transaction counters of the database `db` is connected to. A backend reports its
 *  counts when it goes idle, at most once a second: a reading lags the truth by about that. */
export async function databaseCounters(db: Queryable): Promise<DatabaseCounters> {
  const { rows } = await db.query<{ commits: string; rollbacks: string; deadlocks: string }>(
    `SELECT xact_commit::text AS commits, xact_rollback::text AS rollbacks, deadlocks::text AS deadlocks
       FROM pg_catalog.pg_stat_database WHERE datname = current_database()`,
  );
  const row = rows[0];
  return {
    commits: Number(row?.commits ?? 0),
    rollbacks: Number(row?.rollbacks ?? 0),
    deadlocks: Number(row?.deadlocks ?? 0),
  };
}

/** A session waiting for a lock, and the sessions it waits for. */
export interface LockWait {
  pid: number;
  applicationName: string;
  /** Seconds since its statement began (it has waited at most that long). */
  waitingSeconds: number;
  query: string;
  /** Whether this is one of tidal's own sessions. */
  own: boolean;
  blockedBy: { pid: number; applicationName: string; own: boolean }[];
}

/**
 * The sessions of this database waiting on a heavyweight lock now, longest first, each with
 * the sessions it waits for. pg_blocking_pids reads the lock manager's shared state, so it is
 * asked only of sessions that wait.
 */
export async function lockWaits(db: Queryable, ownApplicationName: string): Promise<LockWait[]> {
  const { rows } = await db.query<LockWait>(
    `SELECT w.pid, coalesce(w.application_name, '') AS "applicationName",
            extract(epoch FROM now() - w.query_start)::float8 AS "waitingSeconds",
            left(coalesce(w.query, ''), 200) AS query, ${ownSession('w')} AS own,
            coalesce((SELECT json_agg(json_build_object('pid', b.pid,
                                      'applicationName', coalesce(b.application_name, ''),
                                      'own', ${ownSession('b')}) ORDER BY b.pid)
                        FROM unnest(pg_catalog.pg_blocking_pids(w.pid)) AS blocking(pid)
                        JOIN pg_catalog.pg_stat_activity b ON b.pid = blocking.pid), '[]') AS "blockedBy"
       FROM pg_catalog.pg_stat_activity w
      WHERE w.wait_event_type = 'Lock' AND w.datname = current_database()
        AND w.pid <> pg_backend_pid()
      ORDER BY w.query_start NULLS LAST LIMIT 50`,
    [ownApplicationName],
  );
  return rows;
}

/** Sessions other than tidal's own waiting on a lock that one of tidal's sessions holds. */
export async function sessionsWaitingOnOwn(
  db: Queryable,
  ownApplicationName: string,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity w
      WHERE w.wait_event_type = 'Lock' AND w.datname = current_database()
        AND w.pid <> pg_backend_pid() AND NOT ${ownSession('w')}
        AND EXISTS (SELECT 1 FROM unnest(pg_catalog.pg_blocking_pids(w.pid)) AS blocking(pid)
                      JOIN pg_catalog.pg_stat_activity b ON b.pid = blocking.pid
                     WHERE ${ownSession('b')})`,
    [ownApplicationName],
  );
  return rows[0]?.n ?? 0;
}

/** The oldest open transaction of a client session of this database, other than this one. */
export interface LongestTransaction {
  pid: number;
  applicationName: string;
  seconds: number;
  state: string;
  query: string;
}

export async function longestTransaction(db: Queryable): Promise<LongestTransaction | null> {
  const { rows } = await db.query<LongestTransaction>(
    `SELECT a.pid, coalesce(a.application_name, '') AS "applicationName",
            extract(epoch FROM now() - a.xact_start)::float8 AS seconds,
            coalesce(a.state, '') AS state, left(coalesce(a.query, ''), 200) AS query
       FROM pg_catalog.pg_stat_activity a
      WHERE a.datname = current_database() AND a.backend_type = 'client backend'
        AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
      ORDER BY a.xact_start LIMIT 1`,
  );
  return rows[0] ?? null;
}
