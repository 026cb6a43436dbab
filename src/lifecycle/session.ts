import type pg from 'pg';
import { OperationError } from '../errors.js';
import type { OpenConnection } from '../executor/blockers.js';
import { StepRunner } from '../executor/run.js';
import { connect } from '../pg/connect.js';
import { stateExists, upgradeStateIfPresent } from '../state/layout.js';
import { type MigrationRecord, StateStore } from '../state/store.js';
import type { TidalEvent } from './events.js';
import { type Settings, type TidalOptions, withDefaults } from './options.js';

/** What every lifecycle command is given: the connection it runs on, its settings, the state of
 *  the application schema, the runner of steps and where its events go. */
export interface Session {
  readonly client: pg.Client;
  readonly settings: Settings;
  readonly store: StateStore;
  readonly runner: StepRunner;
  readonly emit: (event: TidalEvent) => void;
  /** A second connection, from which a waiting statement or batch is watched to name its
   *  blocker. */
  readonly openObserver: OpenConnection;
}

export function openSession(client: pg.Client, options: TidalOptions): Session {
  const settings = withDefaults(options);
  const emit = (event: TidalEvent) => options.onEvent?.(event);
  const openObserver = () => connect(settings.connectionString, 'tidal observer');
  const runner = new StepRunner(
    client,
    { lockTimeoutMs: settings.lockTimeoutMs, retryDeadlineMs: settings.lockRetryDeadlineMs },
    emit,
    openObserver,
  );
  const store = new StateStore(client, settings.stateSchema, settings.schema);
  return { client, settings, store, runner, emit, openObserver };
}

/** The active migration, for a command that acts on it; an older state layout is upgraded. */
export async function requireActive(session: Session, verb: string): Promise<MigrationRecord> {
  const { client, settings, store } = session;
  const active = (await upgradeStateIfPresent(client, settings.stateSchema))
    ? await store.active()
    : undefined;
  if (!active) {
    throw new OperationError(
      `no migration is active in schema "${settings.schema}": nothing to ${verb}`,
    );
  }
  return active;
}

/** The version schema of the latest completed migration, which the next one's complete drops. */
export async function previousVersionSchema(session: Session): Promise<string | null> {
  if (!(await stateExists(session.client, session.settings.stateSchema))) return null;
  return (await session.store.completed()).at(-1)?.versionSchema ?? null;
}
