import { foreignKeysOnConstraintIndex } from '../catalog/plan-reads.js';
import type { ConstraintInfo, IndexInfo } from '../catalog/types.js';
import { InputError } from '../errors.js';
import { breaksCheck, breaksForeignKey, repeatsKey } from '../model/breaking-rows.js';
import { checkExpressionOver } from '../model/checks.js';
import { catalogConstraintName } from '../model/constraint-names.js';
import { expressionOverRow, isColumnItself } from '../model/expressions.js';
import {
  CompleteStage,
  emptySteps,
  type OperationSteps,
  type PlanContext,
} from '../model/operation.js';
import { constraintExistsCondition, doBlock } from '../model/sql-fragments.js';
import { type Step, type TableRef, tableStep, type Undoable } from '../model/step.js';
import type { PlannedTable } from '../model/version-model.js';
import { ident, qualifiedName } from '../pg/quote.js';
import { buildIndexConcurrently } from './concurrent-index.js';
import { attachIndex } from './index-constraint.js';
import { type ConstraintKind, constraintLocks, restoredLater } from './validated-later.js';

/**
 * A constraint dropped in place by start and put back by rollback (drop_constraint,
 * drop_multicolumn_constraint): start drops it at once (an instant ACCESS EXCLUSIVE lock; a
 * unique constraint's index goes with it); rollback first gives rows that break it their values
 * from `down`, then adds a check or foreign key NOT VALID and validates it, or rebuilds a unique
 * constraint as a concurrent unique index attached with `USING INDEX`.
 */
type ColumnExpressions = Record<string, string>;

export function findConstraint(
  o: { table: string; name: string },
  ctx: PlanContext,
): { table: PlannedTable; constraint: ConstraintInfo } {
  const { model, where } = ctx;
  const table = model.requireTable(o.table, `${where}.table`);
  const catalogName = catalogConstraintName(model, table, o.name);
  const constraint = table.created
    ? undefined
    : model.catalog.tables
        .get(table.physical)
        ?.constraints.find((c) => c.name === catalogName && table.constraintNames.has(o.name));
  if (!constraint) {
    const why = table.constraintNames.has(o.name)
      ? 'is added by this same migration; leave it out there instead'
      : 'does not exist';
    throw new InputError(`${where}.name: constraint "${o.name}" on table "${table.name}" ${why}`);
  }
  if (!['c', 'f', 'u', 'p'].includes(constraint.type)) {
    const kind =
      constraint.type === 'x'
        ? 'an exclusion constraint'
        : 'not a check, foreign key, unique constraint or primary key';
    throw new InputError(
      `${where}.name: constraint "${o.name}" is ${kind}; tidal drops check, foreign key and unique constraints and primary keys`,
    );
  }
  return { table, constraint };
}

export async function planConstraintDrop(
  o: { table: string; name: string; up: ColumnExpressions; down: ColumnExpressions },
  ctx: PlanContext,
  table: PlannedTable,
  constraint: ConstraintInfo,
): Promise<OperationSteps> {
  const { model, schema, where } = ctx;
  const columns = constraint.columns.map((physical) => {
    const column = table.columns.find((c) => c.physical === physical);
    if (!column) {
      throw new InputError(
        `${where}.name: column "${physical}" of constraint "${o.name}" is changed or dropped by an earlier operation of this migration; drop the constraint first`,
      );
    }
    return column;
  });
  const names = columns.map((c) => c.name);
  for (const field of ['up', 'down'] as const) {
    for (const [name, expression] of Object.entries(o[field])) {
      if (!names.includes(name)) {
        throw new InputError(
          `${where}.${field}.${name}: column "${name}" is not one of the columns of constraint "${o.name}" (${names.join(', ')})`,
        );
      }
      // Dropping a constraint changes no value: the new version reads the column as it is.
      if (field === 'up' && !(await isColumnItself(expression, name))) {
        throw new InputError(
          `${where}.up.${name}: tidal drops constraint "${o.name}" in place, so up must be the column itself ("${name}"); change values with alter_column`,
        );
      }
    }
  }
  const row = {
    alias: table.name,
    columns: table.columns.map((c) => ({ name: c.name, type: c.type })),
  };
  for (const [name, down] of Object.entries(o.down)) {
    const type = table.columns.find((c) => c.name === name)?.type;
    await checkExpressionOver(
      ctx,
      down,
      row,
      `down.${name}`,
      type === undefined ? undefined : { column: name, type },
    );
  }
  if (constraint.type === 'u' || constraint.type === 'p')
    await refuseReferencedUnique(ctx, table, o.name);

  const t = qualifiedName(schema, table.physical);
  const ref: TableRef = { schema, name: table.physical };
  const steps = emptySteps();
  if (constraint.type === 'p') {
    // The backfill walks rows by it and both versions keep it until complete, where it gives
    // way, for a new primary key of the same migration (create_constraint) if there is one.
    steps.complete.push({
      stage: CompleteStage.Columns,
      step: tableStep(
        ref,
        'AccessExclusive',
        `ALTER TABLE ${t} DROP CONSTRAINT ${ident(o.name)}`,
        `drop primary key "${o.name}" of "${table.name}"`,
      ),
    });
    steps.path = 'catalog only: the primary key goes at complete, and holds until then';
    table.constraintNames.delete(o.name);
    table.primaryKey = [];
    model.removeRelationName(o.name);
    model.touch(table);
    return steps;
  }
  const dropped: Undoable = {
    kind: 'change',
    table: table.physical,
    name: `constraint "${o.name}" dropped`,
  };
  const kind = laterKind(constraint);
  // A foreign key's triggers go from the referenced table too.
  const { lock, alsoLocks } = kind
    ? constraintLocks('drop', ref, kind)
    : { lock: 'AccessExclusive' as const, alsoLocks: undefined };
  steps.start.push(
    tableStep(
      ref,
      lock,
      `ALTER TABLE ${t} DROP CONSTRAINT ${ident(o.name)}`,
      `drop constraint "${o.name}" of "${table.name}"; instant, no data changes`,
      { creates: [dropped], ...(alsoLocks ? { alsoLocks } : {}) },
    ),
  );

  const exists = constraintExistsCondition(t, o.name);
  const repairs: string[] = [];
  for (const c of columns) {
    const down = o.down[c.name];
    if (down === undefined || (await isColumnItself(down, c.name))) continue;
    repairs.push(
      `${ident(c.physical)} = ${expressionOverRow(down, '_tidal_row', table.columns, table.name)}`,
    );
  }
  if (repairs.length > 0) {
    const breaks = breaksConstraint(constraint, t);
    steps.rollback.push(
      tableStep(
        ref,
        'RowExclusive',
        doBlock(
          `IF NOT ${exists} THEN UPDATE ${t} AS _tidal_row SET ${repairs.join(', ')} WHERE ${breaks}; END IF;`,
        ),
        `give rows that break "${o.name}" their values from down`,
        { effect: 'scan', undoes: dropped },
      ),
    );
  }
  const index = model.catalog.tables
    .get(table.physical)
    ?.indexes.find((i) => i.name === constraint.name);
  steps.rollback.push(
    ...restoreConstraint(constraint, index, o.name, ref, exists).map((step) => ({
      ...step,
      undoes: dropped,
    })),
  );

  steps.path = 'catalog only: dropped in place, no copy column, no backfill';
  table.constraintNames.delete(o.name);
  if (constraint.type === 'u') model.removeRelationName(o.name);
  // Its index goes now, before the backfill: the rows cannot be walked by it.
  if (constraint.type === 'u' && sameColumns(constraint.columns, table.walkKey))
    model.dropWalkKey(table);
  model.touch(table);
  return steps;
}

/** A condition over `_tidal_row` (a row of table `t`) that holds where the row breaks `c`. */
function breaksConstraint(c: ConstraintInfo, t: string): string {
  if (c.type === 'c') return breaksCheck(c.definition);
  if (c.type === 'f' && c.referencedTable) {
    const target = qualifiedName(c.referencedTable.schema, c.referencedTable.name);
    return breaksForeignKey(c.columns, target, c.referencedColumns);
  }
  // Unique: down for every row but the first of each group of equal values.
  return repeatsKey(t, c.columns, 'after-first');
}

/** Steps that add the constraint back as it was, each a no-op where it already exists. */
function restoreConstraint(
  c: ConstraintInfo,
  index: IndexInfo | undefined,
  name: string,
  ref: TableRef,
  exists: string,
): Step[] {
  if (c.type === 'u' && index) {
    const using = index.definition.slice(index.definition.indexOf(' USING ') + 1);
    const deferrable = /\bDEFERRABLE\b/.test(c.definition)
      ? ` DEFERRABLE${/INITIALLY DEFERRED/.test(c.definition) ? ' INITIALLY DEFERRED' : ''}`
      : '';
    const attach = attachIndex(
      ref,
      { constraint: name, kind: 'unique', index: name, deferrable },
      `turn the index back into unique constraint "${name}"`,
    );
    return [
      buildIndexConcurrently(
        ref,
        { name, unique: true, definition: using },
        `rebuild the unique index of "${name}" without blocking writes`,
        { record: false },
      ),
      { ...attach, sql: doBlock(`IF NOT ${exists} THEN ${attach.sql}; END IF;`) },
    ];
  }
  const kind = laterKind(c);
  if (!kind) return [];
  const definition = c.definition.replace(/\s+NOT VALID$/, '');
  const { add, validate } = restoredLater(
    ref,
    { ...kind, name, definition },
    {
      what: `constraint "${name}"`,
      add: `add constraint "${name}" back for new rows`,
      validate: `check every row keeps "${name}" again`,
    },
  );
  // A no-op where it already exists: rollback may run again after a failure.
  const steps = [{ ...add, sql: doBlock(`IF NOT ${exists} THEN ${add.sql}; END IF;`) }];
  // One that was NOT VALID before comes back NOT VALID.
  if (c.validated) steps.push(validate);
  return steps;
}

/** A check or foreign key as validated-later.ts takes it, or null for other kinds. */
function laterKind(c: ConstraintInfo): ConstraintKind | null {
  if (c.type === 'c') return { kind: 'check' };
  if (c.type === 'f' && c.referencedTable)
    return { kind: 'foreign_key', referenced: c.referencedTable };
  return null;
}

/** A unique constraint or primary key a foreign key references cannot be dropped without
 *  dropping the key. */
async function refuseReferencedUnique(
  ctx: PlanContext,
  table: PlannedTable,
  name: string,
): Promise<void> {
  if (ctx.afterRawSql || !ctx.model.isLive(table.physical)) return;
  const rows = await foreignKeysOnConstraintIndex(
    ctx.db,
    qualifiedName(ctx.schema, table.physical),
    name,
  );
  // A foreign key of a table earlier migrations, not run yet, change may be gone by then.
  const first = rows.find((r) => r.schema !== ctx.schema || ctx.model.isLive(r.table));
  if (first) {
    throw new InputError(
      `${ctx.where}.name: foreign key "${first.fk}" on ${first.on} references "${name}"; drop that foreign key first`,
    );
  }
}

function sameColumns(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}
