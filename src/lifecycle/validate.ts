import { InputError, OperationError } from '../errors.js';
import type { LoadedMigration } from '../migration/load.js';
import { validatePending } from '../planner/pending.js';
import { LAYOUT_VERSION, layoutVersion } from '../state/layout.js';
import { appliedFiles } from '../state/store.js';
import { notApplied } from './migrate.js';
import { previousVersionSchema, type Session } from './session.js';

/** What `tidal validate` found against the database, changing nothing. */
export interface DatabaseValidation {
  /** Files applied already, and unchanged since. */
  applied: string[];
  /** Files up to the baseline (`tidal baseline`): applied by the tool before tidal. */
  baselined: string[];
  /** Files planned against the database, in order, each from the schema the ones before leave. */
  planned: string[];
  /** Pending files left to be planned when their turn comes, and why. */
  deferred?: { files: string[]; reason: string };
}

/**
 * Every check against the database that `tidal start` (and `tidal migrate`) make before running
 * anything, for `files` in order: files already applied must be unchanged and come first; the
 * others are planned in turn (planner/pending.ts), in transactions that are rolled back. Reads
 * only: the state schema is neither made nor upgraded. Throws the InputError of the first
 * problem.
 */
export async function validateAgainstDatabase(
  session: Session,
  files: LoadedMigration[],
): Promise<DatabaseValidation> {
  const { client, settings, store } = session;
  const layout = await layoutVersion(client, settings.stateSchema);
  if (layout > 0 && layout < LAYOUT_VERSION) {
    throw new OperationError(
      `the state schema "${settings.stateSchema}" has layout ${layout}, older than this tidal's ${LAYOUT_VERSION}: run \`tidal init\` before validating against it`,
    );
  }
  const completed = layout > 0 ? await store.completed() : [];
  const active = layout > 0 ? await store.active() : undefined;
  const baseline = layout > 0 ? await store.baseline() : undefined;
  const appliedBefore = appliedFiles(completed);
  const pending = notApplied(files, appliedBefore, baseline);
  const recorded = new Set(appliedBefore.map((r) => r.name));
  const done = files.filter((f) => !pending.includes(f));
  const applied = done.filter((f) => recorded.has(f.migration.name)).map((f) => f.file);
  const baselined = done.filter((f) => !recorded.has(f.migration.name)).map((f) => f.file);
  if (active) {
    const activeFiles = appliedFiles([active]).map((f) => f.name);
    const next = pending.slice(0, activeFiles.length).map((f) => f.migration.name);
    if (next.join('\n') !== activeFiles.join('\n')) {
      throw new InputError(
        `migration "${active.name}" is ${active.phase}, and it is not the next of these files: complete or roll it back first`,
      );
    }
    const rest = pending.slice(activeFiles.length).map((f) => f.file);
    return {
      applied,
      baselined,
      planned: [],
      deferred: {
        files: pending.map((f) => f.file),
        reason: `migration "${active.name}" is ${active.phase}${rest.length > 0 ? ': the files after it are planned once it completes' : ''}`,
      },
    };
  }
  const validation = await validatePending(client, pending, {
    schema: settings.schema,
    stateSchema: settings.stateSchema,
    previousVersionSchema: await previousVersionSchema(session),
  });
  const planned = pending.slice(0, validation.validated).map((f) => f.file);
  const left = pending.slice(validation.validated).map((f) => f.file);
  return {
    applied,
    baselined,
    planned,
    ...(validation.stoppedBy && left.length > 0
      ? {
          deferred: {
            files: left,
            reason: `they come after raw SQL planning cannot follow (${validation.stoppedBy.where}); each is planned when its turn comes`,
          },
        }
      : {}),
  };
}
