/** The table locks a session holds, as tidal's steps name them. */
import type { LockMode } from '../../src/executor/step.js';
import { LOCK_MODES } from '../../src/executor/step.js';
import type { Queryable } from '../../src/pg/queryable.js';

/** The strongest lock this session holds on relation `oid` (pg_locks' `AccessExclusiveLock`
 *  is `AccessExclusive`), or 'none'. */
export async function strongestLock(db: Queryable, oid: number): Promise<LockMode> {
  const { rows } = await db.query<{ mode: string }>(
    `SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = $1 AND granted`,
    [oid],
  );
  const held = rows
    .map((r) => LOCK_MODES.indexOf(r.mode.replace(/Lock$/, '') as (typeof LOCK_MODES)[number]))
    .filter((i) => i >= 0);
  return held.length === 0 ? 'none' : (LOCK_MODES[Math.max(...held)] ?? 'none');
}
