import pg from 'pg';
import { activeSessionCount } from '../catalog/activity.js';
import {
  replayLag,
  streamingStandbys,
  walSinceCheckpoint,
  walWritten,
} from '../catalog/replication.js';
import { sleep } from '../pg/backoff.js';
import { TIDAL_APPLICATION_NAME } from '../pg/connect.js';
import type { Queryable } from '../pg/queryable.js';

/** One thing the backfill must not push past, read before each batch. */
export interface ThrottleSignal {
  /** What it measures, for the reason shown to people. */
  name: string;
  /** The current value and its limit, or why it could not be read. */
  read(): Promise<{ value: number; limit: number; unit: string } | { unreadable: string }>;
  /** Releases what reading needs (a connection of its own). */
  close?(): Promise<void>;
}

/**
 * Decides before each backfill batch whether to wait, and says why. A signal over its limit
 * holds the backfill; so does a signal that cannot be read: running blind is what hurts a
 * primary, so tidal waits and says what it cannot see (grant `pg_monitor`, or drop the limit).
 */
export class Throttler {
  constructor(private readonly signals: ThrottleSignal[]) {}

  /** Why to wait now, or null to go on. */
  async reason(): Promise<string | null> {
    for (const signal of this.signals) {
      const reading = await signal.read().catch((error: Error) => ({ unreadable: error.message }));
      if ('unreadable' in reading) return `${signal.name} cannot be read (${reading.unreadable})`;
      if (reading.value > reading.limit) {
        return `${signal.name} ${Math.round(reading.value)} ${reading.unit} over ${reading.limit} ${reading.unit}`;
      }
    }
    return null;
  }

  async close(): Promise<void> {
    for (const signal of this.signals) await signal.close?.();
  }
}

/** Replay lag of the standbys streaming from this primary (pg_stat_replication). */
export function primaryReplicaLag(db: Queryable, limitMs: number): ThrottleSignal {
  return {
    name: 'replica lag',
    async read() {
      const standbys = await streamingStandbys(db);
      // Without pg_monitor (or pg_read_all_stats) the columns of other users' sessions are NULL.
      if (standbys.some((s) => s.state === null)) {
        return { unreadable: 'pg_stat_replication is hidden from this role; grant pg_monitor' };
      }
      return {
        value: Math.max(0, ...standbys.map((s) => s.lagMs)),
        limit: limitMs,
        unit: 'ms',
      };
    },
  };
}

/** Replay lag read on a standby itself, for standbys the primary does not list (cascading,
 *  or watched by URL). */
export function standbyLag(url: string, limitMs: number): ThrottleSignal {
  let client: pg.Client | undefined;
  const name = `replica lag at ${new URL(url).host}`;
  return {
    name,
    async read() {
      if (!client) {
        client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
        client.on('error', () => {});
        try {
          await client.connect();
        } catch (error) {
          client = undefined;
          return { unreadable: (error as Error).message };
        }
      }
      try {
        const replay = await replayLag(client);
        if (!replay?.standby) return { unreadable: 'not a standby' };
        if (replay.lagMs === null) return { unreadable: 'no replay position yet' };
        return { value: replay.lagMs, limit: limitMs, unit: 'ms' };
      } catch (error) {
        await client?.end().catch(() => {});
        client = undefined;
        return { unreadable: (error as Error).message };
      }
    },
    async close() {
      await client?.end().catch(() => {});
    },
  };
}

/** Sessions running a statement in this database right now, tidal's own left out: a busy
 *  primary gets room first. */
export function activeSessions(db: Queryable, limit: number): ThrottleSignal {
  return {
    name: 'active sessions',
    async read() {
      return {
        value: await activeSessionCount(db, TIDAL_APPLICATION_NAME),
        limit,
        unit: 'sessions',
      };
    },
  };
}

/**
 * WAL the server writes per second, the backfill's and the application's, measured from one
 * reading to the next. Past what checkpoints absorb (about max_wal_size per
 * checkpoint_timeout) checkpoints are forced by WAL volume, and after each one the next change
 * of every page writes the whole page to WAL again: the application pays for that too.
 */
export function walRate(db: Queryable, limitMBPerSecond: number): ThrottleSignal {
  let last: { lsn: string; at: number } | undefined;
  const reading = async () => {
    const at = Date.now();
    const { lsn, bytes } = await walWritten(db, last?.lsn ?? null);
    const seconds = last ? (at - last.at) / 1000 : 0;
    last = { lsn, at };
    return seconds > 0 ? bytes / 2 ** 20 / seconds : 0;
  };
  return {
    name: 'WAL rate',
    async read() {
      // The first reading has nothing to measure against: it measures a short window.
      if (!last) {
        await reading();
        await sleep(FIRST_WINDOW_MS);
      }
      return { value: await reading(), limit: limitMBPerSecond, unit: 'MB/s' };
    },
  };
}

/**
 * How far the WAL written since the last checkpoint has gone toward forcing the next one by
 * volume, in percent. Holding the backfill past a limit below 100 lets the next timed
 * checkpoint come first: the backfill then adds no checkpoints of its own, and none of the
 * full-page writes that follow each.
 */
export function checkpointWal(db: Queryable, limitPercent: number): ThrottleSignal {
  return {
    name: 'WAL toward a forced checkpoint',
    async read() {
      const { bytes, forcingBytes } = await walSinceCheckpoint(db);
      if (forcingBytes <= 0) return { unreadable: 'max_wal_size could not be read' };
      return { value: (100 * bytes) / forcingBytes, limit: limitPercent, unit: '%' };
    },
  };
}

/** How long the first reading of the WAL rate watches the server. */
const FIRST_WINDOW_MS = 250;
