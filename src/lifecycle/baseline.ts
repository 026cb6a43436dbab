import { InputError, OperationError } from '../errors.js';
import { ensureStateSchema } from '../state/layout.js';
import type { Session } from './session.js';

/**
 * `tidal baseline NAME`: adopts a database whose schema another tool made. It records the schema
 * as it is now as the starting point NAME and runs nothing: `migrate` then skips the files that
 * sort up to NAME (the history the other tool applied) and starts with the one after. Refused
 * where tidal already has history for the schema.
 */
export async function baselineSchema(session: Session, name: string): Promise<void> {
  const { client, settings, store } = session;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new InputError(
      `baseline: "${name}" is not a migration name: give the base name of the last migration file the other tool applied (letters, digits, _, . and -)`,
    );
  }
  await ensureStateSchema(client, settings.stateSchema);
  if (await store.hasHistory()) {
    const baseline = await store.baseline();
    throw new OperationError(
      baseline
        ? `schema "${settings.schema}" already has the baseline "${baseline.name}"`
        : `schema "${settings.schema}" already has tidal migrations: a baseline adopts a schema tidal has not migrated`,
    );
  }
  await store.insertBaseline(name);
  await store.event(name, 'baseline');
}
