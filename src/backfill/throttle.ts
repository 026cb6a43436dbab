import pg from 'pg';
import { activeSessionCount } from '../catalog/activity.js';
import { databaseCounters, sessionsWaitingOnOwn } from '../catalog/health.js';
import {
  primaryReplayLag,
  replayLag,
  walSinceCheckpoint,
  walWritten,
} from '../catalog/replication.js';
import { sleep } from '../pg/backoff.js';
import { TIDAL_APPLICATION_NAME } from '../pg/connect.js';
import type { Queryable } from '../pg/queryable.js';

/** Where a signal holds the backfill (`max`) and where it stops the start (`critical`); either
 *  may be left out. */
export interface SignalLimits {
  max?: number;
  critical?: number;
}

/** What one reading of a signal found. */
export type SignalReading = { value: number; unit: string } | { unreadable: string };

/** One thing the backfill must not push past, read before each batch. */
export interface ThrottleSignal {
  /** What it measures, for the reason shown to people. */
  name: string;
  limits: SignalLimits;
  /** The current value, or why it could not be read. */
  read(): Promise<SignalReading>;
  /** Releases what reading needs (a connection of its own). */
  close?(): Promise<void>;
}

/** What a signal read last, beside its limits: what the metrics and `--json` show. */
export interface SignalStatus {
  name: string;
  /** null when it could not be read. */
  value: number | null;
  unit: string;
  max: number | null;
  critical: number | null;
}

/** Whether the backfill goes on (null), waits (`hold`), or stops (`stop`), and why. */
export type ThrottleVerdict = { hold: string } | { stop: string } | null;

/** Readings in a row over a critical limit before the start stops: one spike is not a load. */
const CRITICAL_READINGS = 2;

/**
 * Decides before each backfill batch whether to wait, and says why. A signal over its `max`
 * holds the backfill; so does a signal that cannot be read: running blind is what hurts a
 * primary, so tidal waits and says what it cannot see (grant `pg_monitor`, or drop the limit).
 * A signal over its `critical` limit in readings in a row stops the start, which resumes from
 * its checkpoint when run again (gh-ost's `--critical-load`).
 */
export class Throttler {
  /** Readings in a row over the critical limit, per signal. */
  private readonly overCritical = new Map<ThrottleSignal, number>();
  private readonly read = new Map<ThrottleSignal, SignalReading>();

  constructor(private readonly signals: ThrottleSignal[]) {}

  /** Each signal's last reading (none before the first verdict). */
  lastReadings(): SignalStatus[] {
    return this.signals.flatMap((signal) => {
      const reading = this.read.get(signal);
      if (!reading) return [];
      const { max, critical } = signal.limits;
      return [
        {
          name: signal.name,
          value: 'value' in reading ? reading.value : null,
          unit: 'unit' in reading ? reading.unit : '',
          max: max ?? null,
          critical: critical ?? null,
        },
      ];
    });
  }

  async verdict(): Promise<ThrottleVerdict> {
    let hold: string | null = null;
    for (const signal of this.signals) {
      const reading = await signal
        .read()
        .catch((error: Error): SignalReading => ({ unreadable: error.message }));
      this.read.set(signal, reading);
      if ('unreadable' in reading) {
        this.overCritical.delete(signal);
        hold ??= `${signal.name} cannot be read (${reading.unreadable})`;
        continue;
      }
      const { max, critical } = signal.limits;
      const measured = (n: number) => (reading.unit ? `${n} ${reading.unit}` : String(n));
      const value = `${signal.name} ${measured(Number(formatValue(reading.value)))}`;
      if (critical !== undefined && reading.value > critical) {
        const times = (this.overCritical.get(signal) ?? 0) + 1;
        this.overCritical.set(signal, times);
        const over = `${value} over the critical ${measured(critical)}`;
        if (times >= CRITICAL_READINGS) return { stop: over };
        hold ??= over;
        continue;
      }
      this.overCritical.delete(signal);
      if (max !== undefined && reading.value > max) hold ??= `${value} over ${measured(max)}`;
    }
    return hold ? { hold } : null;
  }

  async close(): Promise<void> {
    for (const signal of this.signals) await signal.close?.();
  }
}

/** A reading as people read it: whole from 1 up, two significant digits below. */
function formatValue(value: number): string {
  return Math.abs(value) >= 1 || Number.isInteger(value)
    ? String(Math.round(value))
    : String(Number(value.toPrecision(2)));
}

/**
 * The rate per second of a counter that only grows (rollbacks, deadlocks), over about the last
 * `windowMs` of its readings: long enough that a counter reported once a second reads as a
 * rate, short enough that a burst shows within seconds. A counter that went down (statistics
 * reset) counts as no change.
 */
export class CounterRate {
  private readings: { count: number; at: number }[] = [];

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  /** Adds a reading; the rate over the window it ends. */
  add(count: number, at = Date.now()): number {
    this.readings.push({ count, at });
    // The window starts at the newest reading at least windowMs old.
    while (this.readings.length > 2 && (this.readings[1]?.at ?? at) <= at - this.windowMs)
      this.readings.shift();
    const first = this.readings[0] ?? { count, at };
    const seconds = (at - first.at) / 1000;
    return seconds > 0 ? Math.max(0, count - first.count) / seconds : 0;
  }

  /** Whether a reading has been added. */
  get started(): boolean {
    return this.readings.length > 0;
  }
}

/** How long a window a counter's rate is taken over. */
const RATE_WINDOW_MS = 10_000;

/** Replay lag of the standbys streaming from this primary (pg_stat_replication). */
export function primaryReplicaLag(db: Queryable, limits: SignalLimits): ThrottleSignal {
  return {
    name: 'replica lag',
    limits,
    async read() {
      const lag = await primaryReplayLag(db);
      return 'unreadable' in lag ? lag : { value: lag.lagMs ?? 0, unit: 'ms' };
    },
  };
}

/** Replay lag read on a standby itself, for standbys the primary does not list (cascading,
 *  or watched by URL). */
export function standbyLag(url: string, limits: SignalLimits): ThrottleSignal {
  const name = `replica lag at ${new URL(url).host}`;
  const connection = ownConnection(
    () => new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 }),
  );
  return {
    name,
    limits,
    read: () =>
      connection.reading(async (client) => {
        const replay = await replayLag(client);
        if (!replay?.standby) return { unreadable: 'not a standby' };
        if (replay.lagMs === null) return { unreadable: 'no replay position yet' };
        return { value: replay.lagMs, unit: 'ms' };
      }),
    close: () => connection.close(),
  };
}

/** Sessions running a statement in this database right now, tidal's own left out: a busy
 *  primary gets room first. */
export function activeSessions(db: Queryable, limits: SignalLimits): ThrottleSignal {
  return {
    name: 'active sessions',
    limits,
    async read() {
      return { value: await activeSessionCount(db, TIDAL_APPLICATION_NAME), unit: 'sessions' };
    },
  };
}

/** Application sessions waiting on a lock one of tidal's sessions holds: the rows a batch has
 *  locked, most often. Holding the backfill between batches lets them through. */
export function lockWaiters(db: Queryable, limits: SignalLimits): ThrottleSignal {
  return {
    name: "sessions waiting on tidal's locks",
    limits,
    async read() {
      return { value: await sessionsWaitingOnOwn(db, TIDAL_APPLICATION_NAME), unit: 'sessions' };
    },
  };
}

/**
 * Transactions the database rolls back per second, the application's and tidal's: a rise
 * means statements fail (lock timeouts, serialization failures, errors the migration causes).
 */
export function rollbackRate(db: Queryable, limits: SignalLimits): ThrottleSignal {
  return counterSignal(
    'rollback rate',
    'rollbacks/s',
    1,
    limits,
    async () => (await databaseCounters(db)).rollbacks,
  );
}

/** Deadlocks the database detects per minute: rows the backfill and the application lock in
 *  different orders, most often. */
export function deadlockRate(db: Queryable, limits: SignalLimits): ThrottleSignal {
  return counterSignal(
    'deadlock rate',
    'deadlocks/min',
    60,
    limits,
    async () => (await databaseCounters(db)).deadlocks,
  );
}

/** A signal read as the rate of a growing counter, per second times `scale`. */
function counterSignal(
  name: string,
  unit: string,
  scale: number,
  limits: SignalLimits,
  count: () => Promise<number>,
): ThrottleSignal {
  const rate = new CounterRate();
  return {
    name,
    limits,
    async read() {
      // The first reading has nothing to measure against: it watches long enough for every
      // busy session to have reported its counts once.
      if (!rate.started) {
        rate.add(await count());
        await sleep(COUNTER_FIRST_WINDOW_MS);
      }
      return { value: rate.add(await count()) * scale, unit };
    },
  };
}

/** A query of the user's that returns one number (gh-ost's `--max-load`), run on a read-only
 *  connection of its own under a statement timeout. */
export interface LoadProbe {
  sql: string;
  max?: number;
  critical?: number;
}

/** How long one reading of a probe may run. */
export const PROBE_TIMEOUT_MS = 5000;

/** Opens the connection a probe runs on: read only, each statement at most PROBE_TIMEOUT_MS. */
export function probeClientConfig(connectionString: string | undefined): pg.ClientConfig {
  return {
    ...(connectionString ? { connectionString } : {}),
    application_name: `${TIDAL_APPLICATION_NAME} probe`,
    options: `-c default_transaction_read_only=on -c statement_timeout=${PROBE_TIMEOUT_MS}`,
    connectionTimeoutMillis: 5000,
  };
}

/** The number the probe's query returns, or why it does not return one. */
export async function readProbe(client: pg.Client, sql: string): Promise<SignalReading> {
  // As arrays: columns of one name (`SELECT 1, 2`) would be one key of an object.
  const result = (await client.query({ text: sql, rowMode: 'array' })) as
    | pg.QueryArrayResult
    | pg.QueryArrayResult[];
  if (Array.isArray(result)) return { unreadable: 'it runs more than one statement' };
  const values = result.rows[0] ?? [];
  if (result.rows.length !== 1 || values.length !== 1)
    return {
      unreadable: `it returned ${result.rows.length} rows of ${result.fields.length} columns, not one number`,
    };
  const value = typeof values[0] === 'string' ? Number(values[0]) : values[0];
  if (typeof value !== 'number' || !Number.isFinite(value))
    return { unreadable: `it returned ${JSON.stringify(values[0])}, not a number` };
  return { value, unit: '' };
}

/** The user's probe as a signal. */
export function probeSignal(
  connectionString: string | undefined,
  probe: LoadProbe,
): ThrottleSignal {
  const connection = ownConnection(() => new pg.Client(probeClientConfig(connectionString)));
  return {
    name: 'probe',
    limits: { max: probe.max, critical: probe.critical },
    read: () => connection.reading((client) => readProbe(client, probe.sql)),
    close: () => connection.close(),
  };
}

/** A connection a signal reads on, opened at its first reading and opened again after a
 *  failure: a signal that cannot connect is unreadable, which holds the backfill. */
function ownConnection(open: () => pg.Client) {
  let client: pg.Client | undefined;
  const drop = async () => {
    await client?.end().catch(() => {});
    client = undefined;
  };
  return {
    async reading(read: (client: pg.Client) => Promise<SignalReading>): Promise<SignalReading> {
      if (!client) {
        const opened = open();
        opened.on('error', () => {});
        try {
          await opened.connect();
        } catch (error) {
          return { unreadable: (error as Error).message };
        }
        client = opened;
      }
      try {
        return await read(client);
      } catch (error) {
        await drop();
        return { unreadable: (error as Error).message };
      }
    },
    close: drop,
  };
}

/**
 * WAL the server writes per second, the backfill's and the application's, measured from one
 * reading to the next. Past what checkpoints absorb (about max_wal_size per
 * checkpoint_timeout) checkpoints are forced by WAL volume, and after each one the next change
 * of every page writes the whole page to WAL again: the application pays for that too.
 */
export function walRate(db: Queryable, limits: SignalLimits): ThrottleSignal {
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
    limits,
    async read() {
      // The first reading has nothing to measure against: it measures a short window.
      if (!last) {
        await reading();
        await sleep(FIRST_WINDOW_MS);
      }
      return { value: await reading(), unit: 'MB/s' };
    },
  };
}

/**
 * How far the WAL written since the last checkpoint has gone toward forcing the next one by
 * volume, in percent. Holding the backfill past a limit below 100 lets the next timed
 * checkpoint come first: the backfill then adds no checkpoints of its own, and none of the
 * full-page writes that follow each.
 */
export function checkpointWal(db: Queryable, limits: SignalLimits): ThrottleSignal {
  return {
    name: 'WAL toward a forced checkpoint',
    limits,
    async read() {
      const { bytes, forcingBytes } = await walSinceCheckpoint(db);
      if (forcingBytes <= 0) return { unreadable: 'max_wal_size could not be read' };
      return { value: (100 * bytes) / forcingBytes, unit: '%' };
    },
  };
}

/** How long the first reading of the WAL rate watches the server. */
const FIRST_WINDOW_MS = 250;

/** How long the first reading of a counter's rate watches it: sessions report their counts at
 *  most once a second. */
const COUNTER_FIRST_WINDOW_MS = 1100;
