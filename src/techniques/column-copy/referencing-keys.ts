/**
 * Foreign keys of other tables that reference a copied key column. Each one's column is copied
 * too, to the same type (int to bigint on both sides, the classic case), and the key is built
 * again between the two copies once the referenced copy's unique index exists. Complete swaps
 * the referencing column first, so the old key no longer holds the old primary key when that
 * goes.
 */

import type { ConstraintInfo } from '../../catalog/types.js';
import { InputError } from '../../errors.js';
import type { AlterColumn } from '../../migration/operations/alter-column.js';
import { prefixedName } from '../../model/names.js';
import {
  CompleteStage,
  emptySteps,
  type OperationSteps,
  type PlanContext,
} from '../../model/operation.js';
import { type Step, type TableRef, tableStep } from '../../model/step.js';
import type { PlannedColumn, PlannedTable } from '../../model/version-model.js';
import { ident, qualifiedName } from '../../pg/quote.js';
import { renameConstraint } from '../constraint-rename.js';
import { constraintLocks, validatedLater } from '../validated-later.js';

/** A foreign key of `table` that references the copied column. */
export type ReferencingKey = ConstraintInfo & { table: string };

/** How index.ts copies a column (passed in: it is the caller). */
export type CopyColumn = (
  o: AlterColumn,
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  steps: OperationSteps,
  options: { skipConstraints?: ReadonlySet<string> },
) => Promise<void>;

/** The locks dropping a foreign key of `table` that references `referenced` takes. */
export function dropKeyLocks(
  table: TableRef,
  referenced: TableRef,
): Pick<Step, 'lock' | 'alsoLocks'> {
  return constraintLocks('drop', table, { kind: 'foreign_key', referenced });
}

/** Copies the column of `fk` to `newType` and rebuilds the key between it and `targetCopy`,
 *  the copy of the column it references. */
export async function carryReferencingKey(
  ctx: PlanContext,
  target: PlannedTable,
  targetCopy: string,
  newType: string,
  fk: ReferencingKey,
  steps: OperationSteps,
  copyColumn: CopyColumn,
): Promise<void> {
  const { model, schema } = ctx;
  const table = model.versionTables().find((t) => t.physical === fk.table);
  const column = table?.columns.find((c) => c.physical === fk.columns[0]);
  if (!table || !column) {
    throw new InputError(
      `${ctx.where}.column: foreign key "${fk.name}" of table "${fk.table}" references it, and its column is dropped by this migration; not supported by this version of tidal yet`,
    );
  }
  const own = emptySteps();
  await copyColumn(
    { table: table.name, column: column.name, type: newType },
    { ...ctx, where: `${ctx.where} (through foreign key "${fk.name}" of "${table.name}")` },
    table,
    column,
    own,
    { skipConstraints: new Set([fk.name]) },
  );
  const t = qualifiedName(schema, table.physical);
  const ref = { schema, name: table.physical };
  const temporary = prefixedName('_tidal_', fk.name);
  // `REFERENCES parent(id) ON DELETE ...`: the actions, after the referenced columns.
  const actions = fk.definition
    .replace(/^.*?\bREFERENCES\s+.+?\([^)]*\)/, '')
    .replace(/\s*NOT VALID$/, '');
  const referenced = { schema, name: target.physical };
  const rebuilt = validatedLater(
    ref,
    {
      kind: 'foreign_key',
      name: temporary,
      definition: `FOREIGN KEY (${ident(column.physical)}) REFERENCES ${qualifiedName(schema, target.physical)} (${ident(targetCopy)})${actions}`,
      referenced,
    },
    {
      what: `the rebuilt foreign key "${fk.name}"`,
      add: `rebuild foreign key "${fk.name}" between the new columns`,
    },
  );
  steps.start.push(...own.start);
  steps.afterSync.push(...own.afterSync);
  // After the build of the referenced copy's unique index, which the key needs.
  steps.afterBackfill.push(...own.afterBackfill, rebuilt.add, rebuilt.validate);
  const dropOld = dropKeyLocks(ref, referenced);
  // The old key between the old columns goes before the triggers do: it would hold the new
  // version's writes to the old values the triggers no longer keep (and before the old primary
  // key, which it depends on, if that goes early).
  steps.complete.unshift(
    {
      stage: CompleteStage.Relax,
      step: tableStep(
        ref,
        dropOld.lock,
        `ALTER TABLE ${t} DROP CONSTRAINT ${ident(fk.name)}`,
        `drop the old foreign key "${fk.name}" (the rebuilt one holds)`,
        { alsoLocks: dropOld.alsoLocks },
      ),
    },
    ...own.complete,
  );
  steps.complete.push({
    stage: CompleteStage.Columns,
    step: renameConstraint(ref, temporary, fk.name, `give foreign key "${fk.name}" back its name`),
  });
  // Before the referenced copy goes: the rebuilt key depends on its index. The key first, so the
  // referencing copy's drop does not take it, and its lock on the referenced table, along.
  steps.rollback.unshift(rebuilt.drop, ...own.rollback);
  steps.rollbackFirst.unshift(...own.rollbackFirst);
}
