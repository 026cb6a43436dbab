import { catalogStep, type Step } from '../executor/step.js';
import type { RawSql } from '../migration/schema.js';
import { splitStatements, statementNeedsNoTransaction } from '../migration/sql-text.js';
import { CompleteStage, emptySteps, type OperationModule } from './types.js';

/**
 * sql: `up` runs at start (or at complete with onComplete), `down` at rollback. Each statement
 * is its own step: sent alone, never as one multi-statement string, which PostgreSQL would run
 * as one implicit transaction. tidal cannot know what the SQL locks, so plan says so.
 */
export const rawSql: OperationModule<RawSql> = {
  async plan(o) {
    const steps = emptySteps();
    const up = statementSteps(o.up, 'run SQL');
    if (o.onComplete)
      steps.complete.push(...up.map((step) => ({ stage: CompleteStage.RawSql, step })));
    else steps.start.push(...up);
    if (o.down !== undefined) steps.rollback.push(...statementSteps(o.down, 'undo SQL'));
    return steps;
  },
};

function statementSteps(sql: string, summary: string): Step[] {
  return splitStatements(sql).map((statement) => ({
    ...catalogStep(statement, summary),
    transactional: !statementNeedsNoTransaction(statement),
  }));
}
