/** `COMMENT ON TABLE` and `COMMENT ON COLUMN`: SHARE UPDATE EXCLUSIVE on the table, no scan. */

import { commentOnColumn, commentOnTable } from '../model/sql-fragments.js';
import { type Step, type TableRef, tableStep } from '../model/step.js';

export function columnComment(
  table: TableRef,
  column: string,
  comment: string | null,
  summary: string,
): Step {
  return tableStep(
    table,
    'ShareUpdateExclusive',
    commentOnColumn(table.schema, table.name, column, comment),
    summary,
  );
}

export function tableComment(table: TableRef, comment: string | null, summary: string): Step {
  return tableStep(
    table,
    'ShareUpdateExclusive',
    commentOnTable(table.schema, table.name, comment),
    summary,
  );
}
