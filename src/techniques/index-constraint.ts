/**
 * A unique constraint or primary key without building its index under an exclusive lock: the
 * unique index is built concurrently first (concurrent-index.ts), then `ADD CONSTRAINT ...
 * USING INDEX` turns it into the constraint, an instant ACCESS EXCLUSIVE lock with no scan (a
 * primary key's columns must be NOT NULL already, or it scans for NULLs). Every operation that
 * attaches an index as a constraint gets its step from here.
 */

import { type Step, type TableRef, tableStep } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';
import { buildIndexConcurrently, type IndexToBuild } from './concurrent-index.js';

export type IndexConstraintKind = 'unique' | 'primary_key';

const KEYWORDS: Record<IndexConstraintKind, string> = {
  unique: 'UNIQUE',
  primary_key: 'PRIMARY KEY',
};

/** `ALTER TABLE ... ADD CONSTRAINT <constraint> UNIQUE|PRIMARY KEY USING INDEX <index>`;
 *  `deferrable` is the constraint's ` DEFERRABLE ...` clause, if any. */
export function attachIndex(
  table: TableRef,
  a: { constraint: string; kind: IndexConstraintKind; index: string; deferrable?: string },
  summary: string,
): Step {
  return tableStep(
    table,
    'AccessExclusive',
    `ALTER TABLE ${qualifiedName(table.schema, table.name)} ADD CONSTRAINT ${ident(a.constraint)} ${KEYWORDS[a.kind]} USING INDEX ${ident(a.index)}${a.deferrable ?? ''}`,
    summary,
  );
}

/** The two steps of the technique: the unique index's concurrent build (recorded for rollback,
 *  which drops it with the column or on its own) and its attachment. */
export function uniqueIndexThenConstraint(
  table: TableRef,
  c: {
    constraint: string;
    kind: IndexConstraintKind;
    index: Omit<IndexToBuild, 'unique'> & { unique?: boolean };
  },
  summaries: { build: string; attach: string },
): { build: Step; attach: Step } {
  return {
    build: buildIndexConcurrently(table, { unique: true, ...c.index }, summaries.build),
    attach: attachIndex(
      table,
      { constraint: c.constraint, kind: c.kind, index: c.index.name },
      summaries.attach,
    ),
  };
}
