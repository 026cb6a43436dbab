/**
 * Reads of what other sessions are doing (pg_stat_activity) and what they hold (pg_locks,
 * pg_blocking_pids): the transactions a lock would wait for, and whom a wait was for.
 */
import type { Queryable } from '../pg/queryable.js';

/** A transaction of another session, open since before a plan was made. */
export interface OpenTransaction {
  pid: number;
  application: string;
  state: string;
  ageSeconds: number;
  query: string;
  /** Tables of this migration it holds a lock on: ACCESS EXCLUSIVE on them waits for it. */
  locks: { table: string; mode: string }[];
}

/** Transactions of other sessions open longer than `olderThanSeconds`, oldest first, with their
 *  granted locks on `tables` of `schema`. */
export async function openTransactions(
  db: Queryable,
  schema: string,
  tables: string[],
  olderThanSeconds: number,
): Promise<OpenTransaction[]> {
  const { rows } = await db.query<{
    pid: number;
    application: string;
    state: string;
    age: number;
    query: string;
    locks: { table: string; mode: string }[] | null;
  }>(
    `SELECT a.pid, a.application_name AS application, coalesce(a.state, '') AS state,
            extract(epoch FROM now() - a.xact_start)::float8 AS age, coalesce(a.query, '') AS query,
            (SELECT json_agg(json_build_object('table', c.relname, 'mode', l.mode) ORDER BY c.relname)
               FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE l.pid = a.pid AND l.granted AND n.nspname = $1 AND c.relname = ANY($2::text[])) AS locks
       FROM pg_stat_activity a
      WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
        AND now() - a.xact_start > make_interval(secs => $3)
      ORDER BY a.xact_start`,
    [schema, tables, olderThanSeconds],
  );
  return rows.map((r) => ({
    pid: r.pid,
    application: r.application,
    state: r.state,
    ageSeconds: r.age,
    query: r.query,
    locks: r.locks ?? [],
  }));
}

/** A session that held a lock (or a snapshot) tidal waited for. */
export interface Blocker {
  pid: number;
  applicationName: string;
  state: string | null;
  transactionStart: string | null;
  /** How long its transaction had been open when tidal looked. */
  transactionSeconds: number | null;
  queryStart: string | null;
  query: string;
  /** The lock modes it holds on the table tidal waited for. */
  mode: string | null;
}

/**
 * Besides its locks, what a blocker's transaction holds: `snapshot` (a snapshot or a
 * transaction id: what a concurrent index build waits out, whatever tables it read),
 * `transactionId` (what a row lock is held by), or `locks` (anything).
 */
export type BlockerHolds = 'locks' | 'snapshot' | 'transactionId';

/** A session's columns in pg_stat_activity `a` as a Blocker, all but `mode`. */
const ACTIVITY_COLUMNS = `a.pid, coalesce(a.application_name, '') AS "applicationName", a.state,
  a.xact_start::text AS "transactionStart",
  extract(epoch FROM now() - a.xact_start)::float8 AS "transactionSeconds",
  a.query_start::text AS "queryStart", left(a.query, 200) AS query`;

/** The granted locks on table $2 (none when $2 is null). */
const LOCKS_ON_TABLE = `pg_locks l
  WHERE l.granted AND l.locktype = 'relation' AND l.relation = to_regclass($2)`;

/**
 * Up to five sessions of the database, other than this one, whose transaction has been open for
 * `openSeconds` and holds what `holds` says: those holding a lock on `table` (a quoted
 * qualified name) first, then the oldest.
 */
export async function sessionsHolding(
  db: Queryable,
  table: string | null,
  holds: BlockerHolds,
  openSeconds: number,
): Promise<Blocker[]> {
  // Not (auto)vacuum's: a concurrent build does not wait for its snapshot, and it locks no rows.
  const client = `AND a.backend_type = 'client backend'`;
  const holding = {
    locks: '',
    snapshot: `${client} AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)`,
    transactionId: `${client} AND a.backend_xid IS NOT NULL`,
  }[holds];
  const { rows } = await db.query<Blocker>(
    `SELECT * FROM (
       SELECT ${ACTIVITY_COLUMNS}, held.mode FROM pg_stat_activity a
         LEFT JOIN (SELECT l.pid, string_agg(DISTINCT l.mode, ', ') AS mode
                      FROM ${LOCKS_ON_TABLE} GROUP BY l.pid) held ON held.pid = a.pid
        WHERE a.pid <> pg_backend_pid() AND a.datname = current_database()
          AND a.xact_start <= now() - make_interval(secs => $1) ${holding}) found
      ORDER BY mode IS NULL, "transactionSeconds" DESC LIMIT 5`,
    [openSeconds, table],
  );
  return rows;
}

/** Up to five sessions session `pid` waits for on a lock now, none when it does not wait; the
 *  modes each holds on `table` (a quoted qualified name). */
export async function blockersOf(
  db: Queryable,
  pid: number,
  table: string | null,
): Promise<Blocker[]> {
  // pg_blocking_pids reads the lock manager's shared state: only asked while the session waits.
  const { rows } = await db.query<Blocker>(
    `SELECT ${ACTIVITY_COLUMNS},
            (SELECT string_agg(DISTINCT l.mode, ', ') FROM ${LOCKS_ON_TABLE} AND l.pid = a.pid) AS mode
       FROM pg_stat_activity w
      CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocking(pid)
       JOIN pg_stat_activity a ON a.pid = blocking.pid
      WHERE w.pid = $1 AND w.wait_event_type = 'Lock'
      ORDER BY a.xact_start NULLS LAST LIMIT 5`,
    [pid, table],
  );
  return rows;
}

/** The process id of the session `db` is. */
export async function backendPid(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]?.pid;
}

/** Whether session `alias` (of pg_stat_activity) is one of tidal's own: its application_name
 *  is `$1`, or `$1` followed by a space and a role (`tidal backfill`). */
export const ownSession = (alias: string) =>
  `(${alias}.application_name = $1 OR left(${alias}.application_name, length($1) + 1) = $1 || ' ')`;

const NOT_OWN = `NOT ${ownSession('a')}`;

/** Client sessions of this database running a statement right now, other than this one and
 *  tidal's own (its backfill workers among them). */
export async function activeSessionCount(
  db: Queryable,
  ownApplicationName: string,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity a
      WHERE a.state = 'active' AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
        AND a.datname = current_database() AND ${NOT_OWN}`,
    [ownApplicationName],
  );
  return rows[0]?.n ?? 0;
}

/** The session holding an advisory lock of this database, as pg_stat_activity shows it. */
export interface AdvisoryLockHolder {
  pid: number;
  application_name: string;
  usename: string;
  backend_start: string;
  client_addr: string | null;
}

/** Who holds the advisory lock of two int4 keys `classId`, `objId` in this database, if any. */
export async function advisoryLockHolder(
  db: Queryable,
  classId: number,
  objId: number,
): Promise<AdvisoryLockHolder | undefined> {
  const { rows } = await db.query<AdvisoryLockHolder>(
    `SELECT a.pid, a.application_name, a.usename, a.backend_start::text AS backend_start,
            a.client_addr::text AS client_addr
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2
        AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [classId, objId],
  );
  return rows[0];
}

/** A client session of this database, as pg_stat_activity shows it. */
export interface ClientSession {
  pid: number;
  applicationName: string;
  /** Null for a Unix-socket connection. */
  clientAddress: string | null;
  /** When it connected. */
  backendStart: string;
  /** `active`, `idle`, `idle in transaction`...; null when the server does not say. */
  state: string | null;
}

/** Client sessions of this database, oldest first, other than this one and tidal's own (named
 *  `ownApplicationName`, or that followed by a space and their role). */
export async function clientSessions(
  db: Queryable,
  ownApplicationName: string,
): Promise<ClientSession[]> {
  const { rows } = await db.query<ClientSession>(
    `SELECT a.pid, coalesce(a.application_name, '') AS "applicationName",
            host(a.client_addr) AS "clientAddress", a.backend_start::text AS "backendStart", a.state
       FROM pg_catalog.pg_stat_activity a
      WHERE a.backend_type = 'client backend' AND a.datname = current_database()
        AND a.pid <> pg_backend_pid() AND ${NOT_OWN}
      ORDER BY a.backend_start, a.pid`,
    [ownApplicationName],
  );
  return rows;
}

/** What bounds the sessions tidal may add for parallel work: how many processes the server lets
 *  one query use (1 + max_parallel_workers_per_gather, the DBA's word on parallelism), and the
 *  connections left before max_connections (less those reserved for superusers). */
export async function sessionRoom(
  db: Queryable,
): Promise<{ processesPerQuery: number; connectionsFree: number }> {
  const { rows } = await db.query<{ per_query: number; free: number }>(
    `SELECT 1 + current_setting('max_parallel_workers_per_gather')::int AS per_query,
            (current_setting('max_connections')::int
              - current_setting('superuser_reserved_connections')::int
              - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'))::int AS free`,
  );
  const row = rows[0];
  return { processesPerQuery: row?.per_query ?? 1, connectionsFree: row?.free ?? 0 };
}
