import { BackfillControl } from '../backfill/control.js';
import { commandLockHeld, withCommandLock } from '../state/lock.js';
import { requireActive, type Session } from './session.js';
import { runStartOrUndo } from './start.js';

/** What `tidal backfill` asks of the running backfill. */
export type BackfillRequest = { pause: true } | { resume: true } | { rowsPerSecond: number };

/** The backfill's control after a command, and whether this process resumed it. */
export interface BackfillControlResult {
  migration: string;
  paused: boolean;
  rowsPerSecond: number | null;
  resumed: boolean;
}

/**
 * Writes the control the process running the active migration's backfill obeys. `resume` with
 * no tidal running it (it was killed) continues the start from its checkpoint, in this process,
 * unless `continueHere` is false (a dashboard only writes the control).
 */
export async function controlBackfill(
  session: Session,
  command: BackfillRequest,
  { continueHere = true }: { continueHere?: boolean } = {},
): Promise<BackfillControlResult> {
  const { client, settings, emit } = session;
  const active = await requireActive(session, 'control');
  const control = new BackfillControl(client, settings.stateSchema, settings.schema, active.name);
  const state = await control.write(
    'pause' in command
      ? { paused: true }
      : 'resume' in command
        ? { paused: false }
        : { rowsPerSecond: command.rowsPerSecond },
  );
  let resumed = false;
  if (
    continueHere &&
    'resume' in command &&
    active.phase === 'starting' &&
    !(await commandLockHeld(client))
  ) {
    await withCommandLock(client, `start ${active.name}`, async () => {
      const record = await requireActive(session, 'resume');
      if (record.phase !== 'starting') return;
      emit({ type: 'notice', message: `resuming the interrupted start of "${record.name}"` });
      await runStartOrUndo(session, record);
      resumed = true;
    });
  }
  return { migration: active.name, ...state, resumed };
}
