/**
 * An index built and dropped without blocking writes: `CREATE INDEX CONCURRENTLY` and `DROP
 * INDEX CONCURRENTLY` take SHARE UPDATE EXCLUSIVE on the table, scan it (the build) and cannot
 * run inside a transaction block. A failed build leaves an invalid index behind, which the
 * executor drops before a retry (`invalidIndex`). Every operation that builds or drops an index
 * gets its step from here.
 */

import { type Step, type TableRef, tableStep, type Undoable } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';

/** An index as `CREATE INDEX ... ON <table> <definition>` takes it. */
export interface IndexToBuild {
  name: string;
  unique: boolean;
  /** What follows `ON <table>`: `(col)`, or `USING btree (col) INCLUDE ...`. */
  definition: string;
}

/** `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS`; `record` (default) when rollback undoes
 *  it, false for a step of rollback itself. */
export function buildIndexConcurrently(
  table: TableRef,
  index: IndexToBuild,
  summary: string,
  { record = true }: { record?: boolean } = {},
): Step {
  const built: Undoable = { kind: 'index', name: index.name };
  return tableStep(
    table,
    'ShareUpdateExclusive',
    `CREATE${index.unique ? ' UNIQUE' : ''} INDEX CONCURRENTLY IF NOT EXISTS ${ident(index.name)} ON ${qualifiedName(table.schema, table.name)} ${index.definition}`,
    summary,
    {
      transactional: false,
      effect: 'scan',
      invalidIndex: { schema: table.schema, name: index.name },
      ...(record ? { creates: [built] } : {}),
    },
  );
}

/** `DROP INDEX CONCURRENTLY IF EXISTS` of an index of `table`. */
export function dropIndexConcurrently(
  table: TableRef,
  index: string,
  summary: string,
  extra: Pick<Step, 'undoes'> = {},
): Step {
  return tableStep(
    table,
    'ShareUpdateExclusive',
    `DROP INDEX CONCURRENTLY IF EXISTS ${qualifiedName(table.schema, index)}`,
    summary,
    { transactional: false, ...extra },
  );
}

/** The index `name` as rollback undoes it, for `undoes`. */
export function builtIndex(name: string): Undoable {
  return { kind: 'index', name };
}
