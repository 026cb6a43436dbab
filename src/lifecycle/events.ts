import type { BackfillProgress } from '../backfill/run.js';
import type { StepEvent } from '../executor/run.js';
import type { Obligation } from '../planner/obligations.js';
import type { OperationPath } from '../planner/plan.js';

/** What a command reports as it runs (`TidalOptions.onEvent`): the CLI renders these, metrics
 *  count them. */
export type TidalEvent =
  | StepEvent
  | { type: 'phase'; migration: string; phase: string }
  | ({ type: 'backfill' } & BackfillProgress)
  | { type: 'notice'; message: string }
  | ({ type: 'path'; migration: string } & OperationPath)
  | ({ type: 'obligation'; migration: string } & Obligation);
