import { InputError } from '../errors.js';
import type { TableConstraint } from '../migration/fields.js';
import type { CreateConstraint } from '../migration/operations/create-constraint.js';
import { checkExpressionOver } from '../model/checks.js';
import { columnsNamedIn, isColumnItself } from '../model/expressions.js';
import { newColumnName } from '../model/names.js';
import {
  emptySteps,
  type OperationModule,
  type OperationSteps,
  type PlanContext,
} from '../model/operation.js';
import { foreignKeyClause, tableConstraintDefinition } from '../model/sql-fragments.js';
import { tableStep } from '../model/step.js';
import type { PlannedTable } from '../model/version-model.js';
import { ident, qualifiedName } from '../pg/quote.js';
import {
  addConstraint,
  IN_PLACE_PATH,
  mergeSteps,
  type NewConstraint,
} from '../techniques/add-constraint.js';
import { planCopyColumn } from '../techniques/column-copy/index.js';
import { copyGroup } from '../techniques/column-copy/site.js';

/**
 * create_constraint. On a table this migration creates (new, empty, unseen by the old version)
 * the constraint is added directly. On an existing table with every `up` and `down` the column
 * itself, it goes on the columns as they are (add-constraint.ts). Otherwise every constrained
 * column goes through a copy column (techniques/column-copy/) with its own `up` and `down`, so the
 * old version keeps writing what it always wrote and `up` decides what rows that break the
 * constraint become; the constraint is built over the copies (NOT VALID then validated, or a
 * concurrent unique index attached at complete) and takes its place when complete swaps the
 * columns.
 */
export const createConstraint: OperationModule<CreateConstraint> = {
  async plan(o, ctx) {
    const { model, where } = ctx;
    const table = model.requireTable(o.table, `${where}.table`);
    const columns = o.columns ?? [];
    for (const [i, name] of columns.entries())
      model.requireColumn(table, name, `${where}.columns[${i}]`);
    if (table.constraintNames.has(o.name)) {
      throw new InputError(
        `${where}.name: constraint "${o.name}" already exists on table "${table.name}"`,
      );
    }
    const indexBacked = o.type === 'unique' || o.type === 'primary_key';
    if (indexBacked && model.relationExists(o.name)) {
      throw new InputError(`${where}.name: a table or index named "${o.name}" already exists`);
    }
    if (o.type === 'primary_key' && table.primaryKey.length > 0) {
      throw new InputError(`${where}.type: table "${table.name}" already has a primary key`);
    }
    const steps = emptySteps();
    if (table.created) {
      addToNewTable(o, ctx, table, steps);
      await recordOnNewTable(o, ctx, table);
      steps.path = 'added directly: the table is new';
      // addConstraint records these for the other two ways.
      table.constraintNames.add(o.name);
      if (indexBacked) model.addRelationName(o.name);
      if (o.type === 'primary_key')
        table.primaryKey = columns.map((c) => model.requireColumn(table, c, where).physical);
    } else if (await keepsValues(o, columns)) {
      mergeSteps(steps, await addConstraint(ctx, table, await newConstraint(o, ctx, table)));
      steps.path = IN_PLACE_PATH;
    } else {
      await buildOverCopies(o, ctx, table, columns, steps);
      steps.path = `copy columns ${columns.map((c) => `"${newColumnName(c)}"`).join(', ')} filled by up, through the dual-write trigger and the backfill of "${table.name}"; the constraint is built over them`;
    }
    return steps;
  },
};

/** Whether every column's `up` and `down` is the column itself: the values stay as they are. */
async function keepsValues(o: CreateConstraint, columns: string[]): Promise<boolean> {
  for (const column of columns) {
    for (const expression of [o.up[column], o.down[column]]) {
      if (expression !== undefined && !(await isColumnItself(expression, column))) return false;
    }
  }
  return true;
}

async function newConstraint(
  o: CreateConstraint,
  ctx: PlanContext,
  table: PlannedTable,
): Promise<NewConstraint> {
  const { model, schema, where } = ctx;
  const columns = (o.columns ?? []).map((name) => model.requireColumn(table, name, where));
  switch (o.type) {
    case 'check':
      return {
        kind: 'check',
        name: o.name,
        expression: o.check ?? 'true',
        noInherit: o.no_inherit,
      };
    case 'foreign_key': {
      const r = o.references;
      if (!r) throw new InputError(`${where}.references: required for a foreign key`);
      const target = model.requireTable(r.table, `${where}.references.table`);
      const physicalOf = (name: string) => model.requireColumn(table, name, where).physical;
      const clause = foreignKeyClause(
        schema,
        columns.map((c) => c.physical),
        {
          ...r,
          table: target.physical,
          columns: r.columns.map(
            (c, i) => model.requireColumn(target, c, `${where}.references.columns[${i}]`).physical,
          ),
          on_delete_set_columns: r.on_delete_set_columns?.map(physicalOf),
        },
      );
      return {
        kind: 'foreign_key',
        name: o.name,
        clause,
        referenced: { schema, name: target.physical },
        columns,
        references: {
          table: target,
          columns: r.columns.map((c) => model.requireColumn(target, c, where)),
        },
      };
    }
    case 'unique':
    case 'primary_key': {
      const p = o.index_parameters;
      const include = p?.include_columns?.length
        ? ` INCLUDE (${p.include_columns.map((c) => ident(model.requireColumn(table, c, where).physical)).join(', ')})`
        : '';
      const storage = p?.storage_parameters?.trim() ? ` WITH (${p.storage_parameters})` : '';
      const tablespace = p?.tablespace ? ` TABLESPACE ${ident(p.tablespace)}` : '';
      return {
        kind: o.type,
        name: o.name,
        columns,
        indexOptions: `${include}${storage}${tablespace}`,
      };
    }
  }
}

/** As create_table would have written it: the table holds no rows and no traffic yet. */
function addToNewTable(
  o: CreateConstraint,
  ctx: PlanContext,
  table: PlannedTable,
  steps: OperationSteps,
): void {
  const definition = tableConstraintDefinition(ctx.schema, asTableConstraint(o));
  steps.start.push(
    tableStep(
      { schema: ctx.schema, name: table.physical },
      'AccessExclusive',
      `ALTER TABLE ${qualifiedName(ctx.schema, table.physical)} ADD ${definition}`,
      `add constraint "${o.name}" to new table "${table.name}"`,
    ),
  );
}

/** For the catalog after the migration (addConstraint records the other two ways). */
async function recordOnNewTable(
  o: CreateConstraint,
  ctx: PlanContext,
  table: PlannedTable,
): Promise<void> {
  const { model, where } = ctx;
  const columns = (o.columns ?? []).map((c) => model.requireColumn(table, c, where));
  const target = o.references && model.table(o.references.table);
  model.recordConstraint(table, {
    name: o.name,
    type:
      o.type === 'check' ? 'c' : o.type === 'foreign_key' ? 'f' : o.type === 'unique' ? 'u' : 'p',
    columns: o.type === 'check' ? await columnsNamedIn(table.columns, o.check ?? 'true') : columns,
    ...(o.type === 'check' ? { expression: o.check ?? 'true' } : {}),
    ...(target && o.references
      ? {
          references: {
            table: target,
            columns: o.references.columns.flatMap((n) =>
              target.columns.filter((c) => c.name === n),
            ),
          },
        }
      : {}),
  });
}

function asTableConstraint(o: CreateConstraint): TableConstraint {
  return {
    name: o.name,
    type: o.type,
    columns: o.columns,
    check: o.check,
    references: o.references,
    index_parameters: o.index_parameters,
    no_inherit: o.no_inherit,
    deferrable: false,
    initially_deferred: false,
    nulls_not_distinct: false,
  };
}

async function buildOverCopies(
  o: CreateConstraint,
  ctx: PlanContext,
  table: PlannedTable,
  columns: string[],
  steps: OperationSteps,
): Promise<void> {
  const { where } = ctx;
  if (o.type === 'check' && o.check) {
    const row = table.columns.map((c) => ({ name: c.name, type: c.type }));
    await checkExpressionOver(ctx, o.check, { alias: table.name, columns: row }, 'check');
  }
  const copied = columns.map((name) => table.columns.find((c) => c.name === name));
  const group = copyGroup(copied.filter((c) => c !== undefined));
  for (const [i, column] of copied.entries()) {
    if (!column) continue;
    await planCopyColumn(
      { table: o.table, column: column.name, up: o.up[column.name], down: o.down[column.name] },
      { ...ctx, where: `${where}.columns[${i}]` },
      table,
      column,
      steps,
      { group },
    );
  }
  // Over the copies, now the model's columns; attached at complete after they take the names.
  const constraint = await newConstraint(o, ctx, table);
  mergeSteps(steps, await addConstraint(ctx, table, constraint, { afterTriggers: true }));
}
