import { CriticalLoadError } from '../backfill/gate.js';
import { runBackfill } from '../backfill/run.js';
import { VerificationError } from '../backfill/verify.js';
import {
  InputError,
  isConnectionLost,
  LockTimeoutError,
  messageOf,
  OperationError,
} from '../errors.js';
import type { LoadedMigration } from '../migration/load.js';
import { connect } from '../pg/connect.js';
import type { MigrationPlan } from '../planner/plan.js';
import { missingPrivileges } from '../planner/privileges.js';
import { versionSchemaStepsAtStart } from '../planner/versions.js';
import { ensureStateSchema, upgradeStateIfPresent } from '../state/layout.js';
import type { AppliedFile, MigrationRecord, Progress } from '../state/store.js';
import { planFiles } from './plan.js';
import { rollbackMigration } from './rollback.js';
import type { Session } from './session.js';
import { runStoredSteps } from './stored-steps.js';
import { checkLoadProbe, throttlerFor } from './throttler.js';

/**
 * Starts the migration of `loaded`: plans it, records it and runs its start; or resumes its
 * start when it is the active migration, stopped part way. Nothing is recorded before the plan
 * and the privileges it needs are known good. With `asOneWith` (the pending files before
 * `loaded`), all of them are planned and started as one migration (planner/as-one.ts), recorded
 * under `loaded`'s name with the others as its members.
 */
export async function startMigration(
  session: Session,
  loaded: LoadedMigration,
  asOneWith: LoadedMigration[] = [],
): Promise<MigrationRecord> {
  const { client, settings, store, emit } = session;
  const name = loaded.migration.name;
  await checkLoadProbe(settings);
  const hasState = await upgradeStateIfPresent(client, settings.stateSchema);
  const existing = hasState ? await store.get(name) : undefined;
  if (existing?.phase === 'completed') {
    throw new InputError(
      `${loaded.file}: migration "${name}" was already applied (completed ${existing.completedAt})`,
    );
  }
  let record = hasState ? await store.active() : undefined;
  if (record && record.name !== name) {
    throw new OperationError(
      `migration "${record.name}" is ${record.phase} in schema "${settings.schema}"; ${nextCommand(record)} before starting "${name}"`,
    );
  }
  if (record) {
    if (record.checksum !== loaded.checksum) {
      throw new InputError(
        `${loaded.file}: migration "${name}" was started from different content; roll it back first`,
      );
    }
    // `tidal start` of the last file resumes a whole as it was planned; `migrate --as-one`
    // must bring the same files.
    const changed = asOneWith.length > 0 && differentMembers(record.members, asOneWith);
    if (changed) {
      throw new InputError(
        `${loaded.file}: migration "${name}" was started ${record.members.length > 0 ? `as one with ${record.members.map((m) => m.name).join(', ')}` : 'on its own'}, and ${changed}; finish it as it was started (\`tidal start ${loaded.file}\` resumes it) or roll it back first`,
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
    emit({ type: 'notice', message: `resuming the interrupted start of "${name}"` });
  } else {
    const previous = hasState ? (await store.completed()).at(-1) : undefined;
    if (asOneWith.length > 0) {
      emit({
        type: 'notice',
        message: `starting ${asOneWith.length + 1} files as one migration "${name}": ${[...asOneWith, loaded].map((m) => m.migration.name).join(', ')}`,
      });
    }
    const { plan, migration } = await planFiles(
      session,
      loaded,
      asOneWith,
      previous?.versionSchema ?? null,
    );
    const missing = await missingPrivileges(client, plan, settings.stateSchema);
    if (missing.length > 0) {
      throw new OperationError(
        `${loaded.file}: nothing was run: the role tidal connects as lacks what the migration needs:\n${missing.map((m) => `  - ${m}`).join('\n')}`,
      );
    }
    await ensureStateSchema(client, settings.stateSchema);
    await store.insert(
      {
        schema: settings.schema,
        name,
        versionSchema: plan.version.schema,
        parent: previous?.name ?? null,
        checksum: loaded.checksum,
        content: loaded.content,
        plan,
        members: asOneWith.map((m) => ({
          name: m.migration.name,
          checksum: m.checksum,
          content: m.content,
        })),
      },
      migration,
    );
    await store.event(name, 'start');
    record = await store.recorded(name);
  }
  return runStartOrUndo(session, record);
}

/**
 * Runs (or resumes) the start of `record`. A failure rolls back what it did, except where
 * stopping is better: a lock never obtained and a lost connection leave it to resume, and rows
 * the verification found wrong are left to be looked at (rollback stays one command away).
 */
export async function runStartOrUndo(
  session: Session,
  record: MigrationRecord,
): Promise<MigrationRecord> {
  const { store, emit } = session;
  const { name } = record;
  try {
    await runStart(session, record);
  } catch (error) {
    const message = messageOf(error);
    await store.setError(name, message).catch(() => {});
    if (error instanceof LockTimeoutError) {
      throw new LockTimeoutError(
        `${message}\nstart of "${name}" stopped; run \`tidal start\` with the same file to resume, or \`tidal rollback\``,
      );
    }
    if (error instanceof CriticalLoadError) {
      throw new CriticalLoadError(
        `the backfill stopped: ${message}\nstart of "${name}" stopped where its checkpoint is; once the load is down, run \`tidal start\` with the same file (or \`tidal migrate\`) to resume, or \`tidal rollback\``,
      );
    }
    if (error instanceof VerificationError) throw error;
    // Nothing can be undone over a dead connection, and nothing needs to be: what start did
    // is recorded step by step, and the backfill's checkpoint is in the database.
    if (isConnectionLost(error)) {
      throw new OperationError(
        `${message}\nthe connection was lost during start of "${name}"; once the server is reachable, run \`tidal start\` with the same file (or \`tidal backfill resume\`) to continue where it stopped, or \`tidal rollback\``,
      );
    }
    emit({ type: 'notice', message: `start of "${name}" failed; rolling back what it did` });
    try {
      await rollbackMigration(session, await store.recorded(name));
    } catch (rollbackError) {
      throw new OperationError(`${message}\nrolling back also failed: ${messageOf(rollbackError)}`);
    }
    if (error instanceof InputError) throw error;
    throw new OperationError(
      `${message}\nstart of "${name}" was rolled back; the schema is as it was before`,
    );
  }
  return store.recorded(name);
}

/** Expand, the version schema, the backfill, then what waits for the backfill; each part is
 *  skipped when the progress recorded says it is done. */
async function runStart(session: Session, record: MigrationRecord): Promise<void> {
  const { store, emit } = session;
  const { plan, name } = record;
  const progress: Progress = { ...record.progress };
  for (const path of plan.paths ?? []) emit({ type: 'path', migration: name, ...path });
  emit({ type: 'phase', migration: name, phase: 'expand' });
  await runStoredSteps(session, name, plan.start, 'start', progress);
  if (!progress.versionSchema) {
    await makeVersionSchema(session, plan);
    await store.setProgress(name, { versionSchema: true });
  }
  if (!progress.backfill) {
    emit({ type: 'phase', migration: name, phase: 'backfill' });
    await backfillAll(session, name, plan);
    await store.setProgress(name, { backfill: true });
  }
  emit({ type: 'phase', migration: name, phase: 'validate' });
  await runStoredSteps(session, name, plan.afterBackfill, 'afterBackfill', progress);
  await store.setPhase(name, 'active');
  await store.event(name, 'started');
  emit({ type: 'phase', migration: name, phase: 'active' });
  for (const o of plan.obligations ?? []) emit({ type: 'obligation', migration: name, ...o });
}

/** The new version's views, made from the tables as start's steps left them. */
async function makeVersionSchema(
  { client, settings, runner }: Session,
  plan: MigrationPlan,
): Promise<void> {
  const steps = await versionSchemaStepsAtStart(
    client,
    settings.schema,
    plan.version.schema,
    plan.overlay,
  );
  for (const step of steps) await runner.run(step);
}

/** Fills the new columns of every table the plan backfills, one table after the other, held
 *  back by the throttler the settings ask for. */
async function backfillAll(
  { client, settings, emit, openObserver }: Session,
  migration: string,
  plan: MigrationPlan,
): Promise<void> {
  const throttler = throttlerFor(client, settings);
  try {
    for (const spec of plan.backfills) {
      await runBackfill(client, spec, {
        schema: settings.schema,
        stateSchema: settings.stateSchema,
        migration,
        batchSize: settings.backfillBatchSize,
        batchTargetMs: settings.backfillBatchMs,
        workers: settings.backfillWorkers,
        openWorker: () => connect(settings.connectionString, 'tidal backfill'),
        rowsPerSecond: settings.backfillRate,
        verify: settings.backfillVerify,
        lockTimeoutMs: settings.lockTimeoutMs,
        onProgress: (p) => emit({ type: 'backfill', ...p }),
        onNotice: (message) => emit({ type: 'notice', message }),
        throttler,
        openObserver,
      });
    }
  } finally {
    await throttler.close();
  }
}

/** How the files a whole was recorded with differ from `files`, in words; undefined if not. */
function differentMembers(
  recorded: readonly AppliedFile[],
  files: readonly LoadedMigration[],
): string | undefined {
  const names = (list: readonly { name: string }[]) => list.map((m) => m.name).join(', ');
  const given = files.map((f) => ({ name: f.migration.name, checksum: f.checksum }));
  if (names(recorded) !== names(given)) return `now the files before it are ${names(given)}`;
  const edited = recorded.find((m, i) => m.checksum !== given[i]?.checksum);
  return edited ? `"${edited.name}" has changed since` : undefined;
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
