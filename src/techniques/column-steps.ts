/**
 * The column statements every path shares: adding a column, dropping one, renaming one and
 * letting one be NULL. Each takes ACCESS EXCLUSIVE on its table for an instant; none scans or
 * rewrites the table, except ADD COLUMN of a computed column, which the caller says.
 */
import { type Step, type TableRef, type TableStepExtra, tableStep } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';

/** `ALTER TABLE … ADD COLUMN <definition>`; `definition` starts with the quoted column name. */
export function addColumnStep(
  table: TableRef,
  definition: string,
  summary: string,
  { ifNotExists = false, ...extra }: TableStepExtra & { ifNotExists?: boolean } = {},
): Step {
  const add = ifNotExists ? 'ADD COLUMN IF NOT EXISTS' : 'ADD COLUMN';
  return tableStep(
    table,
    'AccessExclusive',
    `ALTER TABLE ${qualifiedName(table.schema, table.name)} ${add} ${definition}`,
    summary,
    extra,
  );
}

/** `ALTER TABLE … DROP COLUMN`; `IF EXISTS` unless the column must be there. */
export function dropColumnStep(
  table: TableRef,
  column: string,
  summary: string,
  { ifExists = true, ...extra }: TableStepExtra & { ifExists?: boolean } = {},
): Step {
  const drop = ifExists ? 'DROP COLUMN IF EXISTS' : 'DROP COLUMN';
  return tableStep(
    table,
    'AccessExclusive',
    `ALTER TABLE ${qualifiedName(table.schema, table.name)} ${drop} ${ident(column)}`,
    summary,
    extra,
  );
}

export function renameColumnStep(table: TableRef, from: string, to: string, summary: string): Step {
  return tableStep(
    table,
    'AccessExclusive',
    `ALTER TABLE ${qualifiedName(table.schema, table.name)} RENAME COLUMN ${ident(from)} TO ${ident(to)}`,
    summary,
  );
}
