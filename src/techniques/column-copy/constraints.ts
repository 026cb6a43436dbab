/**
 * Constraints of a copied column: NOT NULL through a stand-in check, the old column's checks,
 * foreign keys, unique constraints and primary key rebuilt on the copy under a temporary name,
 * and the constraints the alter_column adds. Checks and foreign keys go in NOT VALID once the
 * trigger fills the copy and are validated after the backfill (site.ts, onCopy); unique
 * constraints and primary keys as concurrent unique indexes attached at complete.
 */

import { InputError } from '../../errors.js';
import type { AlterColumn } from '../../migration/operations/alter-column.js';
import { checkExpression } from '../../model/breaking-rows.js';
import { checkExpressionOver } from '../../model/checks.js';
import { currentConstraintName } from '../../model/constraint-names.js';
import { renameColumnInExpression } from '../../model/expressions.js';
import { notNullCheckName, prefixedName } from '../../model/names.js';
import { checkDefinition, referencesClause } from '../../model/sql-fragments.js';
import type { TableRef } from '../../model/step.js';
import type { PlannedConstraint } from '../../model/version-model.js';
import { ident } from '../../pg/quote.js';
import { renameConstraint } from '../constraint-rename.js';
import { attachIndex, uniqueIndexThenConstraint } from '../index-constraint.js';
import { finishNotNull, notNullStandIn } from '../not-null-through-check.js';
import { rebuildIndex } from './indexes.js';
import { type ColumnCopy, onCopy, overCopies } from './site.js';

/** NOT NULL of the new column: a stand-in check on the copy, SET NOT NULL at complete. */
export function notNullOnCopy(copy: ColumnCopy): void {
  const { column, finalName } = copy;
  const check = notNullCheckName(column.name);
  onCopy(copy, notNullStandIn(check, copy.copy), {
    what: `NOT NULL of the new "${column.name}"`,
  });
  copy.atComplete.push(
    ...finishNotNull(
      copy.ref,
      { check, column: copy.copy, columnThen: finalName },
      {
        setNotNull: `set NOT NULL on "${finalName}" (no scan)`,
        dropCheck: 'drop the NOT NULL stand-in check',
      },
    ),
  );
}

/** The old column's constraints, rebuilt on the copy under a temporary name (but those in
 *  `skip`, which the caller builds); returns the tables its foreign keys reference. */
export async function rebuildConstraintsOnCopy(
  copy: ColumnCopy,
  skip?: ReadonlySet<string>,
): Promise<TableRef[]> {
  const { ctx, table, info, oldName, ref } = copy;
  const keysReference: TableRef[] = [];
  for (const c of info.constraints) {
    if (!c.columns.includes(oldName) || c.type === 'n') continue;
    if (c.columns.length > 1 && !copy.rebuildsShared) continue;
    // By its name as of this operation: an earlier one may have renamed or dropped it.
    const name = currentConstraintName(ctx.model, table, c.name);
    if (!table.constraintNames.has(name) || skip?.has(name)) continue;
    const temporary = prefixedName('_tidal_', name);
    if (c.type === 'c') {
      const expression = await overCopies(copy, checkExpression(c.definition));
      onCopy(
        copy,
        { kind: 'check', name: temporary, definition: checkDefinition(expression) },
        { what: `the rebuilt check "${name}"`, add: `rebuild check "${name}" on the new column` },
      );
      copy.atComplete.push(
        renameConstraint(ref, temporary, name, `give check "${name}" back its name`),
      );
    } else if (c.type === 'f' && c.referencedTable) {
      const target = c.definition
        .slice(c.definition.indexOf(' REFERENCES '))
        .replace(/ NOT VALID$/, '');
      const keys = c.columns.map((k) => ident(copy.group.get(k) ?? k)).join(', ');
      keysReference.push(c.referencedTable);
      onCopy(
        copy,
        {
          kind: 'foreign_key',
          name: temporary,
          definition: `FOREIGN KEY (${keys})${target}`,
          referenced: c.referencedTable,
        },
        {
          what: `the rebuilt foreign key "${name}"`,
          add: `rebuild foreign key "${name}" on the new column`,
        },
      );
      copy.atComplete.push(
        renameConstraint(ref, temporary, name, `give foreign key "${name}" back its name`),
      );
    } else if (c.type === 'u' || c.type === 'p') {
      const index = info.indexes.find((i) => i.name === c.name);
      if (!index) continue;
      const kind = c.type === 'u' ? 'unique' : 'primary_key';
      copy.steps.afterBackfill.push(await rebuildIndex(copy, index, temporary));
      // After SET NOT NULL above: a primary key needs it, and would scan for it otherwise.
      copy.atComplete.push(
        attachIndex(
          ref,
          { constraint: name, kind, index: temporary },
          `turn the rebuilt index into ${c.type === 'u' ? 'unique constraint' : 'primary key'} "${name}"`,
        ),
      );
    }
  }
  return keysReference;
}

/** The check, foreign key and unique constraint the alter_column adds, on the copy; returns
 *  them for the catalog after the migration. */
export async function newConstraintsOnCopy(
  copy: ColumnCopy,
  o: AlterColumn,
): Promise<PlannedConstraint[]> {
  const added: PlannedConstraint[] = [];
  if (o.check) added.push(await newCheckOnCopy(copy, o.check));
  if (o.references) added.push(newForeignKeyOnCopy(copy, o.references));
  if (o.unique) added.push(newUniqueOnCopy(copy, o.unique.name));
  return added;
}

async function newCheckOnCopy(
  copy: ColumnCopy,
  check: NonNullable<AlterColumn['check']>,
): Promise<PlannedConstraint> {
  const { ctx, table, column, finalName } = copy;
  if (table.constraintNames.has(check.name))
    throw new InputError(
      `${ctx.where}.check.name: constraint "${check.name}" already exists on table "${table.name}"`,
    );
  const newRow = table.columns.map((c) =>
    c === column ? { name: finalName, type: copy.newType } : { name: c.name, type: c.type },
  );
  await checkExpressionOver(
    ctx,
    check.constraint,
    { alias: table.name, columns: newRow },
    'check.constraint',
  );
  const expression = await renameColumnInExpression(check.constraint, finalName, copy.copy);
  onCopy(
    copy,
    { kind: 'check', name: check.name, definition: checkDefinition(expression, check.no_inherit) },
    { what: `check "${check.name}"` },
  );
  table.constraintNames.add(check.name);
  return { name: check.name, type: 'c', columns: [], expression: check.constraint };
}

function newForeignKeyOnCopy(
  copy: ColumnCopy,
  r: NonNullable<AlterColumn['references']>,
): PlannedConstraint {
  const { ctx, table, column } = copy;
  const { model, schema, where } = ctx;
  if (table.constraintNames.has(r.name))
    throw new InputError(
      `${where}.references.name: constraint "${r.name}" already exists on table "${table.name}"`,
    );
  const target = model.requireTable(r.table, `${where}.references.table`);
  const references = referencesClause(schema, { ...r, table: target.physical });
  onCopy(
    copy,
    {
      kind: 'foreign_key',
      name: r.name,
      definition: `FOREIGN KEY (${ident(copy.copy)}) ${references}`,
      referenced: { schema, name: target.physical },
    },
    { what: `foreign key "${r.name}"` },
  );
  table.constraintNames.add(r.name);
  const targetColumn = target.columns.find((c) => c.name === r.column);
  return {
    name: r.name,
    type: 'f',
    columns: [column],
    references: targetColumn && { table: target, columns: [targetColumn] },
  };
}

function newUniqueOnCopy(copy: ColumnCopy, name: string): PlannedConstraint {
  const { ctx, table, column } = copy;
  const { model, schema, where } = ctx;
  if (table.constraintNames.has(name) || model.relationExists(name))
    throw new InputError(`${where}.unique.name: "${name}" is already taken in schema "${schema}"`);
  const { build, attach } = uniqueIndexThenConstraint(
    copy.ref,
    {
      constraint: name,
      kind: 'unique',
      index: {
        name: prefixedName('_tidal_uniq_', column.name),
        definition: `(${ident(copy.copy)})`,
      },
    },
    {
      build: `build unique index on the new "${column.name}" without blocking writes`,
      attach: `turn the unique index into constraint "${name}"`,
    },
  );
  copy.steps.afterBackfill.push(build);
  copy.atComplete.push(attach);
  table.constraintNames.add(name);
  model.addRelationName(name);
  return { name, type: 'u', columns: [column] };
}
