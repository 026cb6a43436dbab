import pg from 'pg';
import {
  activeSessions,
  checkpointWal,
  deadlockRate,
  lockWaiters,
  primaryReplicaLag,
  probeClientConfig,
  probeSignal,
  readProbe,
  rollbackRate,
  type SignalLimits,
  standbyLag,
  Throttler,
  type ThrottleSignal,
  walRate,
} from '../backfill/throttle.js';
import { InputError, messageOf } from '../errors.js';
import type { Queryable } from '../pg/queryable.js';
import type { LoadSignal, Settings } from './options.js';

/** The signals that hold a backfill, and stop it, as the settings ask for them. A signal given
 *  only a critical limit is watched for that alone. */
export function throttlerFor(db: Queryable, settings: Settings): Throttler {
  const critical = settings.criticalLoad ?? {};
  const limits = (signal: LoadSignal, max: number | undefined): SignalLimits | undefined => {
    const limit = { max, critical: critical[signal] };
    return limit.max === undefined && limit.critical === undefined ? undefined : limit;
  };
  const signals: ThrottleSignal[] = [];
  const watch = (
    signal: LoadSignal,
    max: number | undefined,
    make: (limits: SignalLimits) => ThrottleSignal,
  ) => {
    const given = limits(signal, max);
    if (given) signals.push(make(given));
  };
  // A replica lag of 0 means "do not watch" (its default is on).
  const maxLagMs = settings.maxReplicaLagMs || undefined;
  watch('replica-lag', maxLagMs, (l) => primaryReplicaLag(db, l));
  for (const url of settings.replicaUrls ?? [])
    watch('replica-lag', maxLagMs, (l) => standbyLag(url, l));
  watch('active-sessions', settings.maxActiveSessions, (l) => activeSessions(db, l));
  watch('lock-waiters', settings.maxLockWaiters, (l) => lockWaiters(db, l));
  watch('rollback-rate', settings.maxRollbackRate, (l) => rollbackRate(db, l));
  watch('deadlock-rate', settings.maxDeadlockRate, (l) => deadlockRate(db, l));
  watch('wal-rate', settings.maxWalRateMBps, (l) => walRate(db, l));
  watch('checkpoint-wal', settings.maxCheckpointWalPercent, (l) => checkpointWal(db, l));
  if (settings.probe) {
    const probe = settings.probe;
    watch('probe', probe.max, () =>
      probeSignal(settings.connectionString, { ...probe, critical: critical.probe }),
    );
  }
  return new Throttler(signals);
}

/** Runs the probe once, before start changes anything: a probe that fails or returns no number
 *  is bad input, not a reason to hold a backfill forever. */
export async function checkLoadProbe(settings: Settings): Promise<void> {
  const probe = settings.probe;
  if (!probe) return;
  if (probe.max === undefined && settings.criticalLoad?.probe === undefined)
    throw new InputError('--probe: give --probe-max or --critical-load probe=N: it needs a limit');
  const client = new pg.Client(probeClientConfig(settings.connectionString));
  client.on('error', () => {});
  try {
    await client.connect();
    const reading = await readProbe(client, probe.sql);
    if ('unreadable' in reading)
      throw new InputError(`--probe ${JSON.stringify(probe.sql)}: ${reading.unreadable}`);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`--probe ${JSON.stringify(probe.sql)} failed: ${messageOf(error)}`);
  } finally {
    await client.end().catch(() => {});
  }
}
