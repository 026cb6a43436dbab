import {
  activeSessions,
  checkpointWal,
  primaryReplicaLag,
  standbyLag,
  Throttler,
  type ThrottleSignal,
  walRate,
} from '../backfill/throttle.js';
import type { Queryable } from '../pg/queryable.js';
import type { Settings } from './options.js';

/** The signals that hold a backfill, as the settings ask for them. */
export function throttlerFor(db: Queryable, settings: Settings): Throttler {
  const lagMs = settings.maxReplicaLagMs;
  const signals: ThrottleSignal[] = [];
  if (lagMs > 0) {
    signals.push(primaryReplicaLag(db, lagMs));
    for (const url of settings.replicaUrls ?? []) signals.push(standbyLag(url, lagMs));
  }
  if (settings.maxActiveSessions) signals.push(activeSessions(db, settings.maxActiveSessions));
  if (settings.maxWalRateMBps) signals.push(walRate(db, settings.maxWalRateMBps));
  if (settings.maxCheckpointWalPercent)
    signals.push(checkpointWal(db, settings.maxCheckpointWalPercent));
  return new Throttler(signals);
}
