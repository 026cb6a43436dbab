import { messageOf, OperationError } from '../errors.js';
import { hasSomethingToUndo, madeByStart } from '../planner/made.js';
import type { MigrationRecord } from '../state/store.js';
import { awaitVersionDrained, type DrainOptions } from './drain.js';
import type { Session } from './session.js';
import { runStoredSteps } from './stored-steps.js';
import { previousVersion, versionHistory, versionOf } from './versions.js';

/** Undoes what start did of `record` (only what it made: an interrupted start made only part)
 *  and forgets the migration. With `drain`, first sees to the sessions of its version, which
 *  rollback removes. */
export async function rollbackMigration(
  session: Session,
  record: MigrationRecord,
  drain?: DrainOptions,
): Promise<void> {
  const { store, emit } = session;
  const { name, plan } = record;
  if (record.phase === 'completing') {
    throw new OperationError(
      `complete of "${name}" has begun and cannot be undone; run \`tidal complete\` to finish it`,
    );
  }
  if (drain) {
    const history = await versionHistory(session);
    await awaitVersionDrained(
      session,
      history,
      versionOf(record),
      {
        verb: 'rollback',
        migration: name,
        advice: `deploy the release built for "${previousVersion(history).name}" in their place first`,
      },
      drain,
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
