import { type Step, type Undoable, undoableKey } from '../model/step.js';
import { type MigrationPlan, versionSchemaMade } from './plan.js';

/** How far start's stored steps ran (as the state records it). */
export interface StartProgress {
  start?: number;
  afterBackfill?: number;
}

/**
 * What start has made so far, from the progress it recorded: what every step that ran made. A
 * step that runs outside a transaction (CREATE INDEX CONCURRENTLY) and was running when start
 * stopped counts too, since it may have made its object before the record of it. The version
 * schema counts once start's steps are done (start makes it next).
 */
export function madeByStart(plan: MigrationPlan, progress: StartProgress): Map<string, Undoable> {
  const made = new Map<string, Undoable>();
  const add = (u: Undoable) => made.set(undoableKey(u), u);
  const ran = (steps: Step[], count: number) => {
    steps.forEach((step, i) => {
      if (i < count || (i === count && !step.transactional))
        for (const u of step.creates ?? []) add(u);
    });
  };
  ran(plan.start, progress.start ?? 0);
  ran(plan.afterBackfill, progress.afterBackfill ?? 0);
  if ((progress.start ?? 0) >= plan.start.length) add(versionSchemaMade(plan.version));
  return made;
}

/** Whether a rollback step has something to undo: it undoes nothing in particular, or start
 *  made what it undoes. */
export function hasSomethingToUndo(step: Step, made: Map<string, Undoable>): boolean {
  return step.undoes === undefined || made.has(undoableKey(step.undoes));
}
