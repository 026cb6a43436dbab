/** `ALTER TABLE ... RENAME CONSTRAINT`: an instant ACCESS EXCLUSIVE lock, no scan (a unique,
 *  primary key or exclusion constraint's index is renamed with it). */

import { type Step, type TableRef, type TableStepExtra, tableStep } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';

export function renameConstraint(
  table: TableRef,
  from: string,
  to: string,
  summary: string,
  extra: TableStepExtra = {},
): Step {
  return tableStep(
    table,
    'AccessExclusive',
    `ALTER TABLE ${qualifiedName(table.schema, table.name)} RENAME CONSTRAINT ${ident(from)} TO ${ident(to)}`,
    summary,
    extra,
  );
}
