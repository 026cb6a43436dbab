/** What the parts of a column copy (index.ts) share: the column, its copy, and where
 *  their steps go. */

import type { TableInfo } from '../../catalog/types.js';
import { renameColumnInExpression } from '../../model/expressions.js';
import { newColumnName } from '../../model/names.js';
import type { OperationSteps, PlanContext } from '../../model/operation.js';
import type { Step, TableRef } from '../../model/step.js';
import type { PlannedColumn, PlannedTable } from '../../model/version-model.js';
import {
  addValidatedLater,
  type LaterConstraint,
  type LaterSummaries,
} from '../validated-later.js';

/** Columns copied together by one operation: old physical name to the copy's name. */
export type CopyGroup = Map<string, string>;

export function copyGroup(columns: PlannedColumn[]): CopyGroup {
  return new Map(columns.map((c) => [c.physical, newColumnName(c.name)]));
}

/** One column being copied. */
export interface ColumnCopy {
  ctx: PlanContext;
  table: PlannedTable;
  /** The column as the model has it before the copy. */
  column: PlannedColumn;
  /** The table in the catalog. */
  info: TableInfo;
  steps: OperationSteps;
  ref: TableRef;
  /** The copy's physical name. */
  copy: string;
  /** The old version's name for the column (its physical name). */
  oldName: string;
  /** The column's name in the new version. */
  finalName: string;
  /** The copy's type, as the migration writes it. */
  newType: string;
  group: CopyGroup;
  /** Whether objects over several columns of the group are rebuilt with this one: they are
   *  rebuilt once, with the group's first column. */
  rebuildsShared: boolean;
  /** Steps of complete once the copy has the column's name, in order. */
  atComplete: Step[];
}

/** An expression over the old columns, made over the group's copies. */
export async function overCopies(copy: ColumnCopy, sql: string): Promise<string> {
  for (const [from, to] of copy.group) sql = await renameColumnInExpression(sql, from, to);
  return sql;
}

/**
 * A check or foreign key on the copy: it goes in once the trigger fills the copy. A check may
 * reject the NULL the copy gets once the trigger is gone, so rollback drops checks before the
 * trigger goes; foreign keys go before the copy's own drop, which would otherwise take them
 * (and their lock on the referenced table) with it.
 */
export function onCopy(copy: ColumnCopy, c: LaterConstraint, summaries: LaterSummaries): void {
  addValidatedLater(copy.steps, copy.ref, c, summaries, {
    add: 'afterSync',
    drop: c.kind === 'check' ? 'rollbackFirst' : 'rollback',
  });
}
