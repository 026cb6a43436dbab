import type pg from 'pg';
import { BackfillControl } from './backfill/control.js';
import { type BackfillProgress, runBackfill } from './backfill/run.js';
import {
  activeSessions,
  primaryReplicaLag,
  standbyLag,
  Throttler,
  type ThrottleSignal,
} from './backfill/throttle.js';
import { VerificationError } from './backfill/verify.js';
import { readSchema, serverMajor } from './catalog/read.js';
import {
  InputError,
  isConnectionLost,
  LockTimeoutError,
  messageOf,
  OperationError,
} from './errors.js';
import { DEFAULT_LOCK_POLICY, type StepEvent, StepRunner } from './executor/run.js';
import { type LoadedMigration, listMigrationFiles, loadMigrationFile } from './migration/load.js';
import { doBlock } from './model/sql-fragments.js';
import type { Step } from './model/step.js';
import type { VersionOverlay } from './model/version-model.js';
import { connect } from './pg/connect.js';
import type { Queryable } from './pg/queryable.js';
import { ident, literal } from './pg/quote.js';
import { driftOf, tidalLookalikes } from './planner/drift.js';
import { hasSomethingToUndo, madeByStart } from './planner/made.js';
import type { Obligation } from './planner/obligations.js';
import { type PendingValidation, validatePending } from './planner/pending.js';
import {
  type MigrationPlan,
  type OperationPath,
  planMigration,
  plannedVersionSteps,
} from './planner/plan.js';
import { type PlanReport, planReport } from './planner/plan-report.js';
import { missingPrivileges } from './planner/privileges.js';
import { versionSchemaSteps, viewsFromCatalog } from './planner/versions.js';
import { ensureStateSchema, layoutVersion } from './state/layout.js';
import { acquireCommandLock, commandLockHeld, releaseCommandLock } from './state/lock.js';
import {
  type BackfillRecord,
  type MigrationRecord,
  type Progress,
  StateStore,
} from './state/store.js';

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
  /** Replay lag of a standby above which the backfill waits (default 10 s; 0: do not watch). */
  maxReplicaLagMs?: number;
  /** Standbys to watch besides those streaming from the primary. */
  replicaUrls?: string[];
  /** Active application sessions above which the backfill waits (default: not watched). */
  maxActiveSessions?: number;
  /** Rows per second ceiling for the backfill. */
  backfillRate?: number;
  /** Check every backfilled row against `up` before start finishes (default true). */
  backfillVerify?: boolean;
  onEvent?: (event: TidalEvent) => void;
}

export type TidalEvent =
  | StepEvent
  | { type: 'phase'; migration: string; phase: string }
  | ({ type: 'backfill' } & BackfillProgress)
  | { type: 'notice'; message: string }
  | ({ type: 'path'; migration: string } & OperationPath)
  | ({ type: 'obligation'; migration: string } & Obligation);

export interface MigrationStatus {
  schema: string;
  active: {
    name: string;
    versionSchema: string;
    phase: MigrationRecord['phase'];
    startedAt: string;
    lastError: string | null;
    backfills: BackfillRecord[];
    /** What start made that is gone or disabled (changed by hand); complete refuses while any. */
    drift: string[];
  } | null;
  latest: { name: string; versionSchema: string; completedAt: string | null } | null;
  applied: number;
  /** With no migration active: objects named like tidal's own that are still there. */
  leftovers: string[];
}

const EMPTY_OVERLAY: VersionOverlay = { tables: {}, dropped: [] };

/** The library: one connection, one application schema. Every command that changes anything
 *  holds tidal's advisory lock for its duration. */
export class Tidal {
  private readonly schema: string;
  private readonly stateSchema: string;
  private readonly runner: StepRunner;
  /** A second connection, from which a waiting statement or batch is watched to name its blocker. */
  private readonly openObserver = () => connect(this.options.connectionString, 'tidal observer');

  private constructor(
    private readonly client: pg.Client,
    private readonly options: TidalOptions,
  ) {
    this.schema = options.schema ?? 'public';
    this.stateSchema = options.stateSchema ?? 'tidal';
    this.runner = new StepRunner(
      client,
      {
        lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_POLICY.lockTimeoutMs,
        retryDeadlineMs: options.lockRetryDeadlineMs ?? DEFAULT_LOCK_POLICY.retryDeadlineMs,
      },
      (event) => this.emit(event),
      this.openObserver,
    );
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
    await this.client.end().catch(() => {});
  }

  private emit(event: TidalEvent): void {
    this.options.onEvent?.(event);
  }

  private get store(): StateStore {
    return new StateStore(this.client, this.stateSchema, this.schema);
  }

  /** Runs `work` holding tidal's advisory lock; fails at once if another tidal holds it. */
  private async locked<T>(command: string, work: () => Promise<T>): Promise<T> {
    await this.client.query(`SET application_name = ${literal(`tidal ${command}`.slice(0, 63))}`);
    await acquireCommandLock(this.client);
    try {
      return await work();
    } finally {
      await releaseCommandLock(this.client).catch(() => {});
    }
  }

  /**
   * Live control of the active migration's backfill, obeyed by the process running it within a
   * second: pause, resume, or a rows/s ceiling. `resume` with no tidal running the backfill (it
   * was killed) continues the start from its checkpoint.
   */
  async backfill(command: { pause: true } | { resume: true } | { rowsPerSecond: number }): Promise<{
    migration: string;
    paused: boolean;
    rowsPerSecond: number | null;
    resumed: boolean;
  }> {
    const active = await this.requireActive('control');
    const control = new BackfillControl(this.client, this.stateSchema, this.schema, active.name);
    const state = await control.write(
      'pause' in command
        ? { paused: true }
        : 'resume' in command
          ? { paused: false }
          : { rowsPerSecond: command.rowsPerSecond },
    );
    let resumed = false;
    if (
      'resume' in command &&
      active.phase === 'starting' &&
      !(await commandLockHeld(this.client))
    ) {
      await this.locked(`start ${active.name}`, async () => {
        const record = await this.requireActive('resume');
        if (record.phase !== 'starting') return;
        this.emit({
          type: 'notice',
          message: `resuming the interrupted start of "${record.name}"`,
        });
        await this.runStartOrUndo(record);
        resumed = true;
      });
    }
    return { migration: active.name, ...state, resumed };
  }

  /** Creates or upgrades the state schema. */
  async init(): Promise<{ applied: number[] }> {
    return this.locked('init', async () => ({
      applied: await ensureStateSchema(this.client, this.stateSchema),
    }));
  }

  /** Plans a migration without running anything: the steps start, complete and rollback run,
   *  and `report`, what `tidal plan` prints of them (locks, estimates, open transactions). */
  async plan(
    loaded: LoadedMigration,
  ): Promise<{ plan: MigrationPlan; versionSteps: Step[]; report: PlanReport }> {
    const previous = await this.previousVersionSchema();
    const { plan, model, serverMajor } = await planMigration(this.client, loaded.migration, {
      schema: this.schema,
      stateSchema: this.stateSchema,
      file: loaded.file,
      previousVersionSchema: previous,
    });
    const versionSteps = plannedVersionSteps(plan, model, serverMajor);
    const report = await planReport(this.client, plan, versionSteps);
    report.missingPrivileges = await missingPrivileges(this.client, plan, this.stateSchema);
    return { plan, versionSteps, report };
  }

  /** Expand and backfill; with `complete`, also contract. */
  async start(
    loaded: LoadedMigration,
    options: { complete?: boolean } = {},
  ): Promise<MigrationRecord> {
    return this.locked(`start ${loaded.migration.name}`, async () => {
      const record = await this.startLocked(loaded);
      if (options.complete) return this.completeLocked(record);
      return record;
    });
  }

  async complete(): Promise<MigrationRecord> {
    return this.locked('complete', async () => {
      return this.completeLocked(await this.requireActive('complete'));
    });
  }

  async rollback(): Promise<MigrationRecord> {
    return this.locked('rollback', async () => {
      const record = await this.requireActive('roll back');
      await this.rollbackLocked(record);
      return record;
    });
  }

  /**
   * Starts (and completes) every file of `dir` not yet applied, in file-name order. Files
   * already applied must be unchanged. Without `complete`, every migration but the last is
   * completed so the next can start, and the last stays active.
   */
  async migrate(
    dir: string,
    options: { complete?: boolean } = {},
  ): Promise<{ applied: string[]; active: string | null }> {
    const files = await listMigrationFiles(dir);
    const loaded: LoadedMigration[] = [];
    for (const file of files) loaded.push(await loadMigrationFile(file));
    return this.locked('migrate', async () => {
      const hasState = await this.stateReady();
      const store = this.store;
      const completed = new Map((hasState ? await store.completed() : []).map((r) => [r.name, r]));
      const pending: LoadedMigration[] = [];
      for (const m of loaded) {
        const done = completed.get(m.migration.name);
        if (done) {
          if (done.checksum !== m.checksum) {
            throw new InputError(
              `${m.file}: migration "${m.migration.name}" was applied with different content (checksum ${done.checksum.slice(0, 12)}, file now ${m.checksum.slice(0, 12)}); applied migrations must not change`,
            );
          }
          if (pending.length > 0) {
            throw new InputError(
              `${pending[0]?.file}: not applied, but sorts before "${m.migration.name}", which was applied; migrations must be applied in file-name order`,
            );
          }
          continue;
        }
        pending.push(m);
      }
      const active = hasState ? await store.active() : undefined;
      if (active && active.name !== pending[0]?.migration.name) {
        throw new OperationError(
          `migration "${active.name}" is ${active.phase}, and it is not the next file of ${dir}; complete or roll it back first`,
        );
      }
      const applied: string[] = [];
      const run = async (m: LoadedMigration, last: boolean) => {
        let record = await this.startLocked(m);
        if (options.complete || !last) record = await this.completeLocked(record);
        applied.push(m.migration.name);
        return record;
      };
      // One already started is finished first; the others are planned from where it leaves the
      // schema, all of them before the first starts.
      const rest = active ? pending.slice(1) : pending;
      let current: MigrationRecord | null = null;
      if (active && pending[0]) current = await run(pending[0], rest.length === 0);
      await this.validateBeforeStarting(rest);
      for (const [i, m] of rest.entries()) current = await run(m, i === rest.length - 1);
      return { applied, active: current && current.phase !== 'completed' ? current.name : null };
    });
  }

  /** Plans every migration of `pending` before the first starts (planner/pending.ts): an invalid
   *  one is refused before anything runs. */
  private async validateBeforeStarting(pending: LoadedMigration[]): Promise<void> {
    if (pending.length === 0) return;
    const validation = await validatePending(this.client, pending, {
      schema: this.schema,
      stateSchema: this.stateSchema,
      previousVersionSchema: await this.previousVersionSchema(),
    });
    this.emit({ type: 'notice', message: validationNotice(pending.length, validation) });
  }

  async status(): Promise<MigrationStatus> {
    if (!(await this.stateReady())) {
      return {
        schema: this.schema,
        active: null,
        latest: null,
        applied: 0,
        leftovers: await tidalLookalikes(this.client, this.schema),
      };
    }
    const store = this.store;
    const active = await store.active();
    const completed = await store.completed();
    const last = completed.at(-1);
    return {
      schema: this.schema,
      active: active
        ? {
            name: active.name,
            versionSchema: active.versionSchema,
            phase: active.phase,
            startedAt: active.startedAt,
            lastError: active.lastError,
            backfills: await store.backfills(active.name),
            drift:
              active.phase === 'active' || active.phase === 'starting'
                ? await driftOf(this.client, active.plan, active.progress, this.stateSchema)
                : [],
          }
        : null,
      latest: last
        ? { name: last.name, versionSchema: last.versionSchema, completedAt: last.completedAt }
        : null,
      applied: completed.length,
      leftovers: active ? [] : await tidalLookalikes(this.client, this.schema),
    };
  }

  /** The newest migration (active or completed) and its version schema. */
  async latest(): Promise<{ name: string; versionSchema: string } | undefined> {
    if (!(await this.hasState())) return undefined;
    const latest = await this.store.latest();
    return latest ? { name: latest.name, versionSchema: latest.versionSchema } : undefined;
  }

  private async previousVersionSchema(): Promise<string | null> {
    if (!(await this.hasState())) return null;
    return (await this.store.completed()).at(-1)?.versionSchema ?? null;
  }

  /** Whether the state schema exists (read only). */
  private async hasState(): Promise<boolean> {
    return (await layoutVersion(this.client, this.stateSchema)) > 0;
  }

  /** Whether the state schema exists; an older layout is upgraded on the way. Commands create
   *  it only once they are about to record something, so bad input leaves no trace. */
  private async stateReady(): Promise<boolean> {
    if (!(await this.hasState())) return false;
    await ensureStateSchema(this.client, this.stateSchema);
    return true;
  }

  private async requireActive(verb: string): Promise<MigrationRecord> {
    const active = (await this.stateReady()) ? await this.store.active() : undefined;
    if (!active)
      throw new OperationError(
        `no migration is active in schema "${this.schema}": nothing to ${verb}`,
      );
    return active;
  }

  private async startLocked(loaded: LoadedMigration): Promise<MigrationRecord> {
    const store = this.store;
    const name = loaded.migration.name;
    const hasState = await this.stateReady();
    const existing = hasState ? await store.get(name) : undefined;
    if (existing?.phase === 'completed') {
      throw new InputError(
        `${loaded.file}: migration "${name}" was already applied (completed ${existing.completedAt})`,
      );
    }
    let record = hasState ? await store.active() : undefined;
    if (record && record.name !== name) {
      throw new OperationError(
        `migration "${record.name}" is ${record.phase} in schema "${this.schema}"; ${nextCommand(record)} before starting "${name}"`,
      );
    }
    if (record) {
      if (record.checksum !== loaded.checksum) {
        throw new InputError(
          `${loaded.file}: migration "${name}" was started from different content; roll it back first`,
        );
      }
      if (record.phase === 'rolling_back') {
        throw new OperationError(
          `a rollback of "${name}" was interrupted; run \`tidal rollback\` to finish it`,
        );
      }
      if (record.phase === 'completing') {
        throw new OperationError(
          `complete of "${name}" was interrupted; run \`tidal complete\` to finish it`,
        );
      }
      if (record.phase === 'active') return record;
      this.emit({ type: 'notice', message: `resuming the interrupted start of "${name}"` });
    } else {
      const previous = hasState ? (await store.completed()).at(-1) : undefined;
      const { plan } = await planMigration(this.client, loaded.migration, {
        schema: this.schema,
        stateSchema: this.stateSchema,
        file: loaded.file,
        previousVersionSchema: previous?.versionSchema ?? null,
      });
      const missing = await missingPrivileges(this.client, plan, this.stateSchema);
      if (missing.length > 0) {
        throw new OperationError(
          `${loaded.file}: nothing was run: the role tidal connects as lacks what the migration needs:\n${missing.map((m) => `  - ${m}`).join('\n')}`,
        );
      }
      await ensureStateSchema(this.client, this.stateSchema);
      await store.insert(
        {
          schema: this.schema,
          name,
          versionSchema: plan.version.schema,
          parent: previous?.name ?? null,
          checksum: loaded.checksum,
          content: loaded.content,
          plan,
        },
        loaded.migration,
      );
      await store.event(name, 'start');
      record = (await store.get(name)) as MigrationRecord;
    }
    return this.runStartOrUndo(record);
  }

  /** Runs (or resumes) start; a failure other than a lock never obtained rolls back. */
  private async runStartOrUndo(record: MigrationRecord): Promise<MigrationRecord> {
    const store = this.store;
    const { name } = record;
    try {
      await this.runStart(record);
    } catch (error) {
      const message = messageOf(error);
      await store.setError(name, message).catch(() => {});
      if (error instanceof LockTimeoutError) {
        throw new LockTimeoutError(
          `${message}\nstart of "${name}" stopped; run \`tidal start\` with the same file to resume, or \`tidal rollback\``,
        );
      }
      // Left as it stands, so the rows can be looked at: rollback stays one command away.
      if (error instanceof VerificationError) throw error;
      // Nothing can be undone over a dead connection, and nothing needs to be: what start did
      // is recorded step by step, and the backfill's checkpoint is in the database.
      if (isConnectionLost(error)) {
        throw new OperationError(
          `${message}\nthe connection was lost during start of "${name}"; once the server is reachable, run \`tidal start\` with the same file (or \`tidal backfill resume\`) to continue where it stopped, or \`tidal rollback\``,
        );
      }
      this.emit({ type: 'notice', message: `start of "${name}" failed; rolling back what it did` });
      try {
        await this.rollbackLocked((await store.get(name)) as MigrationRecord);
      } catch (rollbackError) {
        throw new OperationError(
          `${message}\nrolling back also failed: ${messageOf(rollbackError)}`,
        );
      }
      if (error instanceof InputError) throw error;
      throw new OperationError(
        `${message}\nstart of "${name}" was rolled back; the schema is as it was before`,
      );
    }
    return (await store.get(name)) as MigrationRecord;
  }

  private async runStart(record: MigrationRecord): Promise<void> {
    const { plan, name } = record;
    const store = this.store;
    const progress: Progress = { ...record.progress };
    for (const path of plan.paths ?? []) this.emit({ type: 'path', migration: name, ...path });
    this.emit({ type: 'phase', migration: name, phase: 'expand' });
    await this.runSteps(name, plan.start, 'start', progress);
    if (!progress.versionSchema) {
      const catalog = await readSchema(this.client, this.schema);
      const views = viewsFromCatalog(catalog, plan.overlay);
      for (const step of versionSchemaSteps(
        this.schema,
        plan.version.schema,
        views,
        await serverMajor(this.client),
      )) {
        await this.runner.run(step);
      }
      await store.setProgress(name, { versionSchema: true });
    }
    if (!progress.backfill) {
      this.emit({ type: 'phase', migration: name, phase: 'backfill' });
      const throttler = this.throttler();
      try {
        for (const spec of plan.backfills) {
          await runBackfill(this.client, spec, {
            schema: this.schema,
            stateSchema: this.stateSchema,
            migration: name,
            batchSize: this.options.backfillBatchSize ?? 1000,
            batchTargetMs: this.options.backfillBatchMs,
            rowsPerSecond: this.options.backfillRate,
            verify: this.options.backfillVerify,
            lockTimeoutMs: this.options.lockTimeoutMs ?? DEFAULT_LOCK_POLICY.lockTimeoutMs,
            onProgress: (p) => this.emit({ type: 'backfill', ...p }),
            onNotice: (message) => this.emit({ type: 'notice', message }),
            throttler,
            openObserver: this.openObserver,
          });
        }
      } finally {
        await throttler.close();
      }
      await store.setProgress(name, { backfill: true });
    }
    this.emit({ type: 'phase', migration: name, phase: 'validate' });
    await this.runSteps(name, plan.afterBackfill, 'afterBackfill', progress);
    await store.setPhase(name, 'active');
    await store.event(name, 'started');
    this.emit({ type: 'phase', migration: name, phase: 'active' });
    for (const o of plan.obligations ?? [])
      this.emit({ type: 'obligation', migration: name, ...o });
  }

  private async completeLocked(record: MigrationRecord): Promise<MigrationRecord> {
    const { name, plan } = record;
    if (record.phase === 'starting') {
      throw new OperationError(
        `start of "${name}" has not finished; run \`tidal start\` with its file to finish it, or \`tidal rollback\``,
      );
    }
    if (record.phase === 'rolling_back') {
      throw new OperationError(
        `a rollback of "${name}" was interrupted; run \`tidal rollback\` to finish it`,
      );
    }
    const store = this.store;
    if (!record.progress.complete) {
      const drift = await driftOf(this.client, plan, record.progress, this.stateSchema);
      if (drift.length > 0) {
        throw new OperationError(
          `complete of "${name}" refused, nothing was changed: what start made is not all there (changed by hand?):\n${drift.map((d) => `  - ${d}`).join('\n')}\ncomplete would drop the old version's columns on top of it; \`tidal rollback\` goes back to the old version (its columns kept every old-version write), then start again`,
        );
      }
    }
    await store.setPhase(name, 'completing');
    this.emit({ type: 'phase', migration: name, phase: 'contract' });
    try {
      await this.runSteps(name, plan.complete, 'complete', { ...record.progress });
      await this.refreshVersionSchema(plan.version.schema);
    } catch (error) {
      await store.setError(name, messageOf(error)).catch(() => {});
      throw new OperationError(
        `${messageOf(error)}\ncomplete of "${name}" stopped; fix the cause and run \`tidal complete\` again to finish`,
      );
    }
    await store.clearBackfills(name);
    await store.setPhase(name, 'completed');
    await store.event(name, 'completed');
    this.emit({ type: 'phase', migration: name, phase: 'completed' });
    return (await store.get(name)) as MigrationRecord;
  }

  private async rollbackLocked(record: MigrationRecord): Promise<void> {
    const { name, plan } = record;
    if (record.phase === 'completing') {
      throw new OperationError(
        `complete of "${name}" has begun and cannot be undone; run \`tidal complete\` to finish it`,
      );
    }
    const store = this.store;
    await store.setPhase(name, 'rolling_back');
    this.emit({ type: 'phase', migration: name, phase: 'rollback' });
    const made = madeByStart(plan, record.progress);
    try {
      await this.runSteps(name, plan.rollback, 'rollback', { ...record.progress }, (step) =>
        hasSomethingToUndo(step, made),
      );
    } catch (error) {
      await store.setError(name, messageOf(error)).catch(() => {});
      throw new OperationError(
        `${messageOf(error)}\nrollback of "${name}" stopped; fix the cause and run \`tidal rollback\` again to finish`,
        { cause: error },
      );
    }
    await store.remove(name);
    await store.event(name, 'rolled_back');
    this.emit({ type: 'phase', migration: name, phase: 'rolled back' });
  }

  /** The signals that hold a backfill, from the options. */
  private throttler(): Throttler {
    const lagMs = this.options.maxReplicaLagMs ?? 10_000;
    const signals: ThrottleSignal[] = [];
    if (lagMs > 0) {
      signals.push(primaryReplicaLag(this.client, lagMs));
      for (const url of this.options.replicaUrls ?? []) signals.push(standbyLag(url, lagMs));
    }
    if (this.options.maxActiveSessions)
      signals.push(activeSessions(this.client, this.options.maxActiveSessions));
    return new Throttler(signals);
  }

  /** Runs stored steps from where the last run of this phase stopped, recording each; a step
   *  `runs` refuses is recorded as done without running. */
  private async runSteps(
    name: string,
    steps: Step[],
    phase: 'start' | 'afterBackfill' | 'complete' | 'rollback',
    progress: Progress,
    runs: (step: Step) => boolean = () => true,
  ): Promise<void> {
    const store = this.store;
    for (let i = progress[phase] ?? 0; i < steps.length; i++) {
      const step = steps[i] as Step;
      const record = (db: Queryable) => store.setProgress(name, { [phase]: i + 1 }, db);
      if (runs(step)) await this.runner.run(step, record);
      else await record(this.client);
    }
  }

  /**
   * After complete, the version schema shows the tables as they now are (raw SQL run on
   * complete may have changed them). Only views whose columns differ are replaced.
   */
  private async refreshVersionSchema(versionSchema: string): Promise<void> {
    const catalog = await readSchema(this.client, this.schema);
    const major = await serverMajor(this.client);
    const { rows } = await this.client.query<{ view: string; columns: string[] }>(
      `SELECT c.relname AS view, array_agg(a.attname::text ORDER BY a.attnum) AS columns
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = $1 AND c.relkind = 'v' GROUP BY c.relname`,
      [versionSchema],
    );
    // Only a view whose set of columns differs is remade (raw SQL added or dropped one): a view
    // follows renames by itself, and the order of its columns does not matter.
    const columnSet = (names: string[]) => [...names].sort().join('\u0000');
    const current = new Map(rows.map((r) => [r.view, columnSet(r.columns)]));
    const views = viewsFromCatalog(catalog, EMPTY_OVERLAY).filter(
      (v) => current.get(v.name) !== columnSet(v.columns.map((c) => c.name)),
    );
    for (const view of views) {
      const steps = versionSchemaSteps(this.schema, versionSchema, [view], major);
      const create = steps[1];
      if (create && current.has(view.name)) {
        // Dropped and made again in one statement: the new version never finds it missing.
        steps[1] = {
          ...create,
          sql: doBlock(
            `DROP VIEW IF EXISTS ${ident(versionSchema)}.${ident(view.name)}; ${create.sql};`,
          ),
          summary: `replace view "${versionSchema}"."${view.name}"`,
        };
      }
      for (const step of steps) await this.runner.run(step);
    }
  }
}

/** How many pending files migrate validated before starting the first, in one line. */
function validationNotice(pending: number, { validated, stoppedBy }: PendingValidation): string {
  const files = (n: number) => `${n} pending file${n === 1 ? '' : 's'}`;
  if (!stoppedBy)
    return `validated ${files(pending)} against the database before starting the first`;
  const statement = stoppedBy.statement.replace(/\s+/g, ' ');
  const shown = statement.length > 80 ? `${statement.slice(0, 77)}...` : statement;
  return `validated ${validated} of ${files(pending)} against the database before starting the first; the rest come after raw SQL it cannot follow (${stoppedBy.where}: ${shown}) and are validated when their turn comes`;
}

/** What finishes an unfinished migration, in words. */
function nextCommand(record: MigrationRecord): string {
  switch (record.phase) {
    case 'completing':
      return 'run `tidal complete` to finish it';
    case 'rolling_back':
      return 'run `tidal rollback` to finish it';
    default:
      return 'complete or roll it back';
  }
}
