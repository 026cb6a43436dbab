import { advisoryLockHolder } from '../catalog/activity.js';
import { BusyError } from '../errors.js';
import type { Queryable } from '../pg/queryable.js';
import { literal } from '../pg/quote.js';

/** The advisory lock every changing command holds: "tidal" in ASCII. PostgreSQL splits a bigint
 *  key into classid (high half) and objid (low half) in pg_locks. */
const LOCK_KEY = 0x74_6964616cn;
const CLASS_ID = Number(LOCK_KEY >> 32n);
const OBJ_ID = Number(LOCK_KEY & 0xffffffffn);

/**
 * Takes the database-wide tidal lock on `db`'s session, or fails at once naming the holder.
 * Polls with pg_try_advisory_lock outside any transaction: a session blocked in
 * pg_advisory_lock would hold a snapshot that CREATE INDEX CONCURRENTLY waits for.
 */
export async function acquireCommandLock(db: Queryable): Promise<void> {
  const { rows } = await db.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1) AS ok`, [
    LOCK_KEY.toString(),
  ]);
  if (rows[0]?.ok) return;
  const holder = await advisoryLockHolder(db, CLASS_ID, OBJ_ID);
  throw new BusyError(
    holder
      ? `another tidal command is running on this database: pid ${holder.pid}, application "${holder.application_name}", user ${holder.usename}, connected since ${holder.backend_start}${holder.client_addr ? ` from ${holder.client_addr}` : ''}`
      : 'another tidal command is running on this database (it ended while tidal looked; try again)',
  );
}

/** Runs `work` holding the tidal lock, the session named after `command` for whoever looks
 *  (pg_stat_activity, and the message another tidal gives when it finds the lock taken). */
export async function withCommandLock<T>(
  db: Queryable,
  command: string,
  work: () => Promise<T>,
): Promise<T> {
  await db.query(`SET application_name = ${literal(`tidal ${command}`.slice(0, 63))}`);
  await acquireCommandLock(db);
  try {
    return await work();
  } finally {
    await releaseCommandLock(db).catch(() => {});
  }
}

export async function releaseCommandLock(db: Queryable): Promise<void> {
  await db.query(`SELECT pg_advisory_unlock($1)`, [LOCK_KEY.toString()]);
}

/** Whether some session (another tidal) holds the lock now. */
export async function commandLockHeld(db: Queryable): Promise<boolean> {
  return (await advisoryLockHolder(db, CLASS_ID, OBJ_ID)) !== undefined;
}
