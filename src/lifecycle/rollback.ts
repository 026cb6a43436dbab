import { messageOf, OperationError } from '../errors.js';
import { hasSomethingToUndo, madeByStart } from '../planner/made.js';
import type { MigrationRecord } from '../state/store.js';
import type { Session } from './session.js';
import { runStoredSteps } from './stored-steps.js';

/** Undoes what start did of `record` (only what it made: an interrupted start made only part)
 *  and forgets the migration. */
export async function rollbackMigration(session: Session, record: MigrationRecord): Promise<void> {
  const { store, emit } = session;
  const { name, plan } = record;
  if (record.phase === 'completing') {
    throw new OperationError(
      `complete of "${name}" has begun and cannot be undone; run \`tidal complete\` to finish it`,
    );
  }
  await store.setPhase(name, 'rolling_back');
  emit({ type: 'phase', migration: name, phase: 'rollback' });
  const made = madeByStart(plan, record.progress);
  try {
    await runStoredSteps(session, name, plan.rollback, 'rollback', { ...record.progress }, (step) =>
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
  emit({ type: 'phase', migration: name, phase: 'rolled back' });
}
