import { messageOf, OperationError } from '../errors.js';
import { driftOf } from '../planner/drift.js';
import { versionSchemaRefreshSteps } from '../planner/versions.js';
import type { MigrationRecord } from '../state/store.js';
import { awaitVersionDrained, type DrainOptions } from './drain.js';
import type { Session } from './session.js';
import { runStoredSteps } from './stored-steps.js';
import { previousVersion, versionHistory } from './versions.js';

/** Contracts the migration of `record`, once what start made is all there, and brings its
 *  version schema up to the tables as complete leaves them. With `drain`, first sees to the
 *  sessions of the previous version, which complete removes. */
export async function completeMigration(
  session: Session,
  record: MigrationRecord,
  drain?: DrainOptions,
): Promise<MigrationRecord> {
  const { client, settings, store, runner, emit } = session;
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
  if (!record.progress.complete) {
    const drift = await driftOf(client, plan, record.progress, settings.stateSchema);
    if (drift.length > 0) {
      throw new OperationError(
        `complete of "${name}" refused, nothing was changed: what start made is not all there (changed by hand?):\n${drift.map((d) => `  - ${d}`).join('\n')}\ncomplete would drop the old version's columns on top of it; \`tidal rollback\` goes back to the old version (its columns kept every old-version write), then start again`,
      );
    }
  }
  if (drain) {
    const history = await versionHistory(session);
    await awaitVersionDrained(
      session,
      history,
      previousVersion(history),
      {
        verb: 'complete',
        migration: name,
        advice: `deploy the release built for "${name}" in their place first`,
      },
      drain,
    );
  }
  await store.setPhase(name, 'completing');
  emit({ type: 'phase', migration: name, phase: 'contract' });
  try {
    await runStoredSteps(session, name, plan.complete, 'complete', { ...record.progress });
    const refresh = await versionSchemaRefreshSteps(client, settings.schema, plan.version.schema);
    for (const step of refresh) await runner.run(step);
  } catch (error) {
    await store.setError(name, messageOf(error)).catch(() => {});
    throw new OperationError(
      `${messageOf(error)}\ncomplete of "${name}" stopped; fix the cause and run \`tidal complete\` again to finish`,
    );
  }
  await store.clearBackfills(name);
  await store.setPhase(name, 'completed');
  await store.event(name, 'completed');
  emit({ type: 'phase', migration: name, phase: 'completed' });
  return store.recorded(name);
}
