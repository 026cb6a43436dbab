import type { Step } from '../model/step.js';
import type { Queryable } from '../pg/queryable.js';
import type { Progress } from '../state/store.js';
import type { Session } from './session.js';

/** The phases whose stored steps are counted in the migration's progress. */
export type StepPhase = 'start' | 'afterBackfill' | 'complete' | 'rollback';

/** Runs a migration's stored steps from where the last run of this phase stopped, recording
 *  each; a step `runs` refuses is recorded as done without running. */
export async function runStoredSteps(
  { client, runner, store }: Session,
  migration: string,
  steps: Step[],
  phase: StepPhase,
  progress: Progress,
  runs: (step: Step) => boolean = () => true,
): Promise<void> {
  for (let i = progress[phase] ?? 0; i < steps.length; i++) {
    const step = steps[i] as Step;
    const record = (db: Queryable) => store.setProgress(migration, { [phase]: i + 1 }, db);
    if (!runs(step)) {
      await record(client);
      continue;
    }
    const run = await runner.run(step, record);
    await store.logStepRun({
      migration,
      phase,
      step: i,
      summary: step.summary,
      lock: step.lock,
      table: step.table ? `${step.table.schema}.${step.table.name}` : null,
      ...run,
    });
  }
}
