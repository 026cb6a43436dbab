import { InputError, OperationError } from '../errors.js';
import {
  byCodeUnit,
  type LoadedMigration,
  listMigrationFiles,
  loadMigrationFile,
} from '../migration/load.js';
import { type PendingValidation, validatePending } from '../planner/pending.js';
import { stateExists, upgradeStateIfPresent } from '../state/layout.js';
import { type AppliedFile, appliedFiles, type MigrationRecord } from '../state/store.js';
import { completeMigration } from './complete.js';
import type { DrainOptions } from './drain.js';
import { type PlannedMigration, planWithReport } from './plan.js';
import { previousVersionSchema, type Session } from './session.js';
import { startMigration } from './start.js';

/** Every migration file of `dir`, loaded, in file-name order. */
export async function loadMigrationFolder(dir: string): Promise<LoadedMigration[]> {
  const loaded: LoadedMigration[] = [];
  for (const file of await listMigrationFiles(dir)) loaded.push(await loadMigrationFile(file));
  return loaded;
}

/**
 * Starts (and completes) every migration of `folder` (the files of `dir`) not yet applied.
 * Without `complete`, every migration but the last is completed so the next can start, and the
 * last stays active. With `asOne`, the pending files start together as one migration
 * (planner/as-one.ts): one version, one backfill per table, one complete or rollback.
 */
export async function migrateFolder(
  session: Session,
  dir: string,
  folder: LoadedMigration[],
  options: { complete?: boolean; drain?: DrainOptions; asOne?: boolean },
): Promise<{ applied: string[]; active: string | null }> {
  const { client, settings, store } = session;
  const hasState = await upgradeStateIfPresent(client, settings.stateSchema);
  const pending = hasState
    ? notApplied(folder, appliedFiles(await store.completed()), await store.baseline())
    : folder;
  const active = hasState ? await store.active() : undefined;
  // The files of the active migration: its own, or those of a whole started as one.
  const activeFiles = active ? appliedFiles([active]).map((f) => f.name) : [];
  const next = pending.slice(0, activeFiles.length).map((m) => m.migration.name);
  if (active && next.join('\n') !== activeFiles.join('\n')) {
    throw new OperationError(
      `migration "${active.name}" is ${active.phase}${active.members.length > 0 ? ` (started as one with ${active.members.map((m) => m.name).join(', ')})` : ''}, and it is not the next ${activeFiles.length === 1 ? 'file' : 'files'} of ${dir}; complete or roll it back first`,
    );
  }
  const applied: string[] = [];
  const run = async (files: LoadedMigration[], last: boolean) => {
    const target = files.at(-1) as LoadedMigration;
    let record = await startMigration(session, target, files.slice(0, -1));
    if (options.complete || !last) {
      // Each complete removes a version: its sessions are seen to as `tidal complete` does.
      record = await completeMigration(session, record, options.drain ?? {});
    }
    applied.push(...files.map((m) => m.migration.name));
    return record;
  };
  // One already started is finished first; the others are planned from where it leaves the
  // schema, all of them before the first starts (as one, planning the whole is that check).
  const rest = pending.slice(activeFiles.length);
  let current: MigrationRecord | null = null;
  if (active) current = await run(pending.slice(0, activeFiles.length), rest.length === 0);
  if (options.asOne && rest.length > 1) {
    current = await run(rest, true);
  } else {
    await validateBeforeStarting(session, rest);
    for (const [i, m] of rest.entries()) current = await run([m], i === rest.length - 1);
  }
  return { applied, active: current && current.phase !== 'completed' ? current.name : null };
}

/**
 * `tidal plan DIR --as-one`: the files of `folder` not applied yet, planned as the one migration
 * `migrate --as-one` would start. Runs nothing. With a migration active, the files after it
 * cannot be planned as they will run: refused.
 */
export async function planPendingAsOne(
  session: Session,
  dir: string,
  folder: LoadedMigration[],
): Promise<PlannedMigration> {
  const { client, settings, store } = session;
  const hasState = await stateExists(client, settings.stateSchema);
  const active = hasState ? await store.active() : undefined;
  if (active) {
    throw new OperationError(
      `migration "${active.name}" is ${active.phase}: the files after it are planned as one once it is completed or rolled back`,
    );
  }
  const pending = hasState
    ? notApplied(folder, appliedFiles(await store.completed()), await store.baseline())
    : folder;
  const last = pending.at(-1);
  if (!last) throw new InputError(`${dir}: every migration file is applied; nothing to plan`);
  return planWithReport(session, last, pending.slice(0, -1));
}

/** The migrations of `folder` not applied yet, in order (`completed`: the files applied). Those applied must be unchanged and
 *  come first: a file that sorts before an applied one and is not applied is refused. Files
 *  that sort up to a `baseline` (`tidal baseline`) were applied by the tool before tidal. */
export function notApplied(
  folder: LoadedMigration[],
  completed: readonly AppliedFile[],
  baseline?: MigrationRecord,
): LoadedMigration[] {
  const applied = new Map(completed.map((r) => [r.name, r]));
  const pending: LoadedMigration[] = [];
  for (const m of folder) {
    if (baseline && byCodeUnit(m.migration.name, baseline.name) <= 0) continue;
    const done = applied.get(m.migration.name);
    if (!done) {
      pending.push(m);
      continue;
    }
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
  }
  return pending;
}

/** Plans every migration of `pending` before the first starts (planner/pending.ts): an invalid
 *  one is refused before anything runs. */
async function validateBeforeStarting(session: Session, pending: LoadedMigration[]): Promise<void> {
  if (pending.length === 0) return;
  const validation = await validatePending(session.client, pending, {
    schema: session.settings.schema,
    stateSchema: session.settings.stateSchema,
    previousVersionSchema: await previousVersionSchema(session),
  });
  session.emit({ type: 'notice', message: validationNotice(pending.length, validation) });
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
