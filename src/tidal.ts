import type pg from 'pg';
import { versionUrl } from './client/node-postgres.js';
import { tidalVersion } from './client/version.js';
import { InputError, messageOf, OperationError } from './errors.js';
import {
  type BackfillControlResult,
  type BackfillRequest,
  controlBackfill,
} from './lifecycle/backfill-control.js';
import { baselineSchema } from './lifecycle/baseline.js';
import { completeMigration } from './lifecycle/complete.js';
import type { DrainOptions } from './lifecycle/drain.js';
import { loadMigrationFolder, migrateFolder, planPendingAsOne } from './lifecycle/migrate.js';
import type { TidalOptions } from './lifecycle/options.js';
import { type PlannedMigration, planWithReport } from './lifecycle/plan.js';
import { type PulledMigration, pullMigrations } from './lifecycle/pull.js';
import { rollbackMigration } from './lifecycle/rollback.js';
import { openSession, requireActive, type Session } from './lifecycle/session.js';
import { startMigration } from './lifecycle/start.js';
import {
  type LatestMigration,
  latestMigration,
  type MigrationStatus,
  migrationStatus,
} from './lifecycle/status.js';
import { type DatabaseValidation, validateAgainstDatabase } from './lifecycle/validate.js';
import { type LiveVersion, resolveVersion } from './lifecycle/versions.js';
import { type WatchSnapshot, watchSnapshot } from './lifecycle/watch.js';
import type { LoadedMigration } from './migration/load.js';
import { connect, urlOfEnvironment } from './pg/connect.js';
import { ensureStateSchema } from './state/layout.js';
import { withCommandLock } from './state/lock.js';
import type { MigrationRecord } from './state/store.js';

export type { TidalEvent } from './lifecycle/events.js';
export {
  type CriticalLoad,
  DEFAULT_DRAIN_WAIT_MS,
  DEFAULT_OPTIONS,
  LOAD_SIGNALS,
  type LoadSignal,
  type TidalOptions,
} from './lifecycle/options.js';
export type { MigrationStatus } from './lifecycle/status.js';
export type { DatabaseHealth, WatchSnapshot } from './lifecycle/watch.js';

/** The library: one connection, one application schema. Every command that changes anything
 *  holds tidal's advisory lock for its duration (the lifecycle/ modules do the work). */
export class Tidal {
  private readonly session: Session;

  private constructor(client: pg.Client, options: TidalOptions) {
    this.session = openSession(client, options);
  }

  static async connect(options: TidalOptions = {}): Promise<Tidal> {
    let client: pg.Client;
    try {
      client = await connect(options.connectionString, 'tidal');
    } catch (error) {
      throw new OperationError(`cannot connect to the database: ${messageOf(error)}`);
    }
    return new Tidal(client, options);
  }

  async close(): Promise<void> {
    await this.session.client.end().catch(() => {});
  }

  /** Runs `work` holding tidal's advisory lock; fails at once if another tidal holds it. */
  private locked<T>(command: string, work: () => Promise<T>): Promise<T> {
    return withCommandLock(this.session.client, command, work);
  }

  /**
   * Live control of the active migration's backfill, obeyed by the process running it within a
   * second: pause, resume, or a rows/s ceiling. `resume` with no tidal running the backfill (it
   * was killed) continues the start from its checkpoint.
   */
  async backfill(
    command: BackfillRequest,
    options: { continueHere?: boolean } = {},
  ): Promise<BackfillControlResult> {
    return controlBackfill(this.session, command, options);
  }

  /** The active migration (else the latest), how its steps ran, recent events, and what the
   *  database feels now; read only from the state schema and the server's statistics. */
  async watch(): Promise<WatchSnapshot> {
    return watchSnapshot(this.session);
  }

  /** Creates or upgrades the state schema. */
  async init(): Promise<{ applied: number[] }> {
    return this.locked('init', async () => ({
      applied: await ensureStateSchema(this.session.client, this.session.settings.stateSchema),
    }));
  }

  /** Plans a migration without running anything: the steps start, complete and rollback run,
   *  and `report`, what `tidal plan` prints of them (locks, estimates, open transactions). */
  async plan(loaded: LoadedMigration): Promise<PlannedMigration> {
    return planWithReport(this.session, loaded);
  }

  /** Plans the files of `dir` not yet applied as the one migration `migrate --as-one` would
   *  start, without running anything. */
  async planAsOne(dir: string): Promise<PlannedMigration> {
    return planPendingAsOne(this.session, dir, await loadMigrationFolder(dir));
  }

  /** Adopts a schema another tool made: records it as the starting point `name`, running
   *  nothing, so `migrate` starts with the files after `name`. */
  async baseline(name: string): Promise<void> {
    return this.locked(`baseline ${name}`, () => baselineSchema(this.session, name));
  }

  /** Writes every migration the database records into `dir`, as the files they were applied
   *  from; refuses, writing nothing, where a file there differs. */
  async pull(dir: string): Promise<PulledMigration[]> {
    return pullMigrations(this.session, dir);
  }

  /** Every check against the database `start` makes first, for `files` in order (applied ones
   *  must be unchanged), running and changing nothing. */
  async validate(files: LoadedMigration[]): Promise<DatabaseValidation> {
    return validateAgainstDatabase(this.session, files);
  }

  /** Expand and backfill; with `complete`, also contract, which sees to the previous version's
   *  sessions as `complete` does (`drain`). */
  async start(
    loaded: LoadedMigration,
    options: { complete?: boolean; drain?: DrainOptions } = {},
  ): Promise<MigrationRecord> {
    return this.locked(`start ${loaded.migration.name}`, async () => {
      const record = await startMigration(this.session, loaded);
      if (options.complete) return completeMigration(this.session, record, options.drain ?? {});
      return record;
    });
  }

  /**
   * Contracts the active migration. While tagged sessions of the previous version (which
   * complete removes) are connected it refuses before running anything, unless `drain` says to
   * wait for them (`waitMs`) or to go on (`force`).
   */
  async complete(drain: DrainOptions = {}): Promise<MigrationRecord> {
    return this.locked('complete', async () =>
      completeMigration(this.session, await requireActive(this.session, 'complete'), drain),
    );
  }

  /** Undoes the active migration; refuses, waits or goes on as `complete` does, for the
   *  sessions of the active migration's version (which rollback removes). */
  async rollback(drain: DrainOptions = {}): Promise<MigrationRecord> {
    return this.locked('rollback', async () => {
      const record = await requireActive(this.session, 'roll back');
      await rollbackMigration(this.session, record, drain);
      return record;
    });
  }

  /** The live version `version` names (a migration name, a version schema, or the application
   *  schema for the base version); the newest when undefined. Throws InputError for a version
   *  that is not live, saying why and what to run. */
  async version(version?: string): Promise<LiveVersion> {
    return resolveVersion(this.session, version);
  }

  /** The libpq URL of a session of `version` (the newest when undefined), tagged with its
   *  version and `application`. */
  async versionUrl(version?: string, options: { application?: string } = {}): Promise<string> {
    const live = await this.version(version);
    const { connectionString, schema } = this.session.settings;
    try {
      const selected = tidalVersion({
        version: live.versionSchema,
        schema,
        stateSchema: this.session.settings.stateSchema,
        ...(options.application ? { application: options.application } : {}),
      });
      return versionUrl(selected, connectionString ?? urlOfEnvironment());
    } catch (error) {
      throw new InputError(messageOf(error));
    }
  }

  /**
   * Starts (and completes) every file of `dir` not yet applied, in file-name order. Files
   * already applied must be unchanged. Without `complete`, every migration but the last is
   * completed so the next can start, and the last stays active. With `asOne`, the files not
   * applied start together as one migration, named and versioned as the last of them.
   */
  async migrate(
    dir: string,
    options: { complete?: boolean; drain?: DrainOptions; asOne?: boolean } = {},
  ): Promise<{ applied: string[]; active: string | null }> {
    const folder = await loadMigrationFolder(dir);
    return this.locked('migrate', () => migrateFolder(this.session, dir, folder, options));
  }

  async status(): Promise<MigrationStatus> {
    return migrationStatus(this.session);
  }

  /** The newest migration (active or completed) and its version schema. */
  async latest(): Promise<LatestMigration | undefined> {
    return latestMigration(this.session);
  }
}
