import type { BackfillWorkers } from '../backfill/workers.js';
import { DEFAULT_SCHEMA, DEFAULT_STATE_SCHEMA } from '../client/version.js';
import { DEFAULT_LOCK_POLICY } from '../executor/run.js';
import type { TidalEvent } from './events.js';

export interface TidalOptions {
  /** Connection string; undefined uses libpq's PG* variables. */
  connectionString?: string;
  /** Application schema (default `public`). */
  schema?: string;
  /** Schema of tidal's own state (default `tidal`). */
  stateSchema?: string;
  lockTimeoutMs?: number;
  /** How long a statement keeps retrying lock timeouts before tidal gives up. */
  lockRetryDeadlineMs?: number;
  backfillBatchSize?: number;
  /** How long one backfill batch should take; batch sizes follow (default 100 ms). */
  backfillBatchMs?: number;
  /** Workers filling and verifying segments of a table at once, each on a connection of its
   *  own (default `auto`: one under a million rows, else up to 1 +
   *  max_parallel_workers_per_gather, at most four). */
  backfillWorkers?: BackfillWorkers;
  /** Replay lag of a standby above which the backfill waits (default 10 s; 0: do not watch). */
  maxReplicaLagMs?: number;
  /** Standbys to watch besides those streaming from the primary. */
  replicaUrls?: string[];
  /** Active application sessions above which the backfill waits (default: not watched). */
  maxActiveSessions?: number;
  /** WAL the server writes, in MB per second, above which the backfill waits (default: not
   *  watched). */
  maxWalRateMBps?: number;
  /** Percent of the WAL that forces a checkpoint (max_wal_size / (1 +
   *  checkpoint_completion_target)) written since the last one, above which the backfill waits
   *  for the next checkpoint (default: not watched). */
  maxCheckpointWalPercent?: number;
  /** Application sessions waiting on a lock tidal holds (a batch's rows, most often) above
   *  which the backfill waits (default: not watched). */
  maxLockWaiters?: number;
  /** Transactions the database rolls back per second above which the backfill waits (default:
   *  not watched). */
  maxRollbackRate?: number;
  /** Deadlocks per minute above which the backfill waits (default: not watched). */
  maxDeadlockRate?: number;
  /** A query of the user's that returns one number, with the value above which the backfill
   *  waits (`max`); its critical value is `criticalLoad.probe`. */
  probe?: { sql: string; max?: number };
  /** Values of the signals past which `start` stops the backfill, cleanly and resumably
   *  (gh-ost's `--critical-load`); a signal named here is watched even without its max. */
  criticalLoad?: CriticalLoad;
  /** Rows per second ceiling for the backfill. */
  backfillRate?: number;
  /** Check every backfilled row against `up` before start finishes (default true). */
  backfillVerify?: boolean;
  onEvent?: (event: TidalEvent) => void;
}

/** The options that have a default, and what leaving them out means (the CLI's help shows
 *  these too). */
export const DEFAULT_OPTIONS = {
  schema: DEFAULT_SCHEMA,
  stateSchema: DEFAULT_STATE_SCHEMA,
  lockTimeoutMs: DEFAULT_LOCK_POLICY.lockTimeoutMs,
  lockRetryDeadlineMs: DEFAULT_LOCK_POLICY.retryDeadlineMs,
  backfillBatchSize: 1000,
  backfillBatchMs: 100,
  backfillWorkers: 'auto',
  maxReplicaLagMs: 10_000,
  backfillVerify: true,
} as const satisfies Required<Omit<TidalOptions, OptionalOnly>>;

/** How long `complete --wait` and `rollback --wait` wait, without a duration, for the sessions
 *  of the version they remove to disconnect. */
export const DEFAULT_DRAIN_WAIT_MS = 15 * 60_000;

/** The signals a backfill can be held and stopped by, as `--critical-load` names them. */
export const LOAD_SIGNALS = [
  'replica-lag',
  'active-sessions',
  'lock-waiters',
  'rollback-rate',
  'deadlock-rate',
  'wal-rate',
  'checkpoint-wal',
  'probe',
] as const;

export type LoadSignal = (typeof LOAD_SIGNALS)[number];

/** A critical value per signal, in the unit of its max option. */
export type CriticalLoad = Partial<Record<LoadSignal, number>>;

/** Options that mean "not set" when left out. */
type OptionalOnly =
  | 'connectionString'
  | 'replicaUrls'
  | 'maxActiveSessions'
  | 'maxWalRateMBps'
  | 'maxCheckpointWalPercent'
  | 'maxLockWaiters'
  | 'maxRollbackRate'
  | 'maxDeadlockRate'
  | 'probe'
  | 'criticalLoad'
  | 'backfillRate'
  | 'onEvent';

/** The options a command runs with: every default filled in. */
export type Settings = Omit<TidalOptions, keyof typeof DEFAULT_OPTIONS> & {
  [K in keyof typeof DEFAULT_OPTIONS]-?: NonNullable<TidalOptions[K]>;
};

export function withDefaults(options: TidalOptions): Settings {
  return {
    ...options,
    schema: options.schema ?? DEFAULT_OPTIONS.schema,
    stateSchema: options.stateSchema ?? DEFAULT_OPTIONS.stateSchema,
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_OPTIONS.lockTimeoutMs,
    lockRetryDeadlineMs: options.lockRetryDeadlineMs ?? DEFAULT_OPTIONS.lockRetryDeadlineMs,
    backfillBatchSize: options.backfillBatchSize ?? DEFAULT_OPTIONS.backfillBatchSize,
    backfillBatchMs: options.backfillBatchMs ?? DEFAULT_OPTIONS.backfillBatchMs,
    backfillWorkers: options.backfillWorkers ?? DEFAULT_OPTIONS.backfillWorkers,
    maxReplicaLagMs: options.maxReplicaLagMs ?? DEFAULT_OPTIONS.maxReplicaLagMs,
    backfillVerify: options.backfillVerify ?? DEFAULT_OPTIONS.backfillVerify,
  };
}
