/**
 * One look at a migration and at what it does to the database, from the state schema and the
 * server's statistics only, so that it can be taken from any machine: what `tidal dashboard`
 * shows, once a second.
 */
import {
  type DatabaseCounters,
  databaseCounters,
  type LockWait,
  type LongestTransaction,
  lockWaits,
  longestTransaction,
} from '../catalog/health.js';
import { primaryReplayLag, walWritten } from '../catalog/replication.js';
import { messageOf } from '../errors.js';
import { TIDAL_APPLICATION_NAME } from '../pg/connect.js';
import { stateExists } from '../state/layout.js';
import type { MigrationEvent, StepRunRecord } from '../state/store.js';
import type { Session } from './session.js';
import { type MigrationStatus, migrationStatus } from './status.js';

/** What the application feels now. Counters only grow: rates are taken between readings. */
export interface DatabaseHealth {
  counters: DatabaseCounters;
  /** Bytes of WAL the server has written since it was made (an LSN as a number). */
  walBytes: number;
  /** Sessions waiting on a lock, and on whom. */
  lockWaits: LockWait[];
  longestTransaction: LongestTransaction | null;
  /** The largest replay lag of the standbys streaming from this server; null without any. */
  replicaLagMs: number | null;
  /** Why replica lag could not be read (a role without pg_monitor). */
  replicaLagUnreadable?: string;
}

/** A migration and the database, as of `at`. */
export interface WatchSnapshot {
  /** When the server read it. */
  at: string;
  status: MigrationStatus;
  /** How the steps of the active migration (else the latest) ran, in order. */
  steps: StepRunRecord[];
  /** The newest events of the schema's migrations, newest first. */
  events: MigrationEvent[];
  health: DatabaseHealth;
}

/** How many events a snapshot carries. */
const EVENTS_SHOWN = 30;

export async function watchSnapshot(session: Session): Promise<WatchSnapshot> {
  const { client, settings, store } = session;
  const status = await migrationStatus(session);
  const hasState = await stateExists(client, settings.stateSchema);
  const shown = status.active?.name ?? status.latest?.name;
  return {
    at: new Date().toISOString(),
    status,
    steps: hasState && shown ? await store.stepRuns(shown) : [],
    events: hasState ? await store.recentEvents(EVENTS_SHOWN) : [],
    health: await databaseHealth(session),
  };
}

async function databaseHealth({ client }: Session): Promise<DatabaseHealth> {
  const lag = await primaryReplayLag(client).catch((error: unknown) => ({
    unreadable: messageOf(error),
  }));
  return {
    counters: await databaseCounters(client),
    walBytes: (await walWritten(client, '0/0')).bytes,
    lockWaits: await lockWaits(client, TIDAL_APPLICATION_NAME),
    longestTransaction: await longestTransaction(client),
    replicaLagMs: 'lagMs' in lag ? lag.lagMs : null,
    ...('unreadable' in lag ? { replicaLagUnreadable: lag.unreadable } : {}),
  };
}
