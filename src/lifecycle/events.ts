import type { BackfillProgress } from '../backfill/run.js';
import type { StepEvent } from '../executor/run.js';
import type { Obligation } from '../planner/obligations.js';
import type { OperationPath } from '../planner/plan.js';
import type { ConnectedSession } from './sessions.js';

/** What a command reports as it runs (`TidalOptions.onEvent`): the CLI renders these, metrics
 *  count them. */
export type TidalEvent =
  | StepEvent
  | { type: 'phase'; migration: string; phase: string }
  | ({ type: 'backfill' } & BackfillProgress)
  | { type: 'notice'; message: string }
  | ({ type: 'path'; migration: string } & OperationPath)
  | ({ type: 'obligation'; migration: string } & Obligation)
  | {
      /** complete or rollback waits for these sessions of the version it removes to go. */
      type: 'sessions-wait';
      migration: string;
      version: string;
      versionSchema: string;
      sessions: ConnectedSession[];
      secondsLeft: number;
    };
