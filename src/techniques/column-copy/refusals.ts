/** What the copy path cannot carry over yet, refused before anything runs. */

import { columnDependents } from '../../catalog/read.js';
import type { TableInfo } from '../../catalog/types.js';
import { InputError } from '../../errors.js';
import { mentionsColumn } from '../../model/expressions.js';
import type { PlanContext } from '../../model/operation.js';
import type { PlannedColumn, PlannedTable } from '../../model/version-model.js';
import type { ReferencingKey } from './referencing-keys.js';
import type { CopyGroup } from './site.js';

/** Refuses, before anything runs, what the copy path cannot carry over yet. */
export async function refuseUnsupported(
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  group: CopyGroup,
): Promise<{ info: TableInfo; referencing: ReferencingKey[] }> {
  const { where, model } = ctx;
  const info = model.catalog.tables.get(table.physical);
  const unsupported = (why: string) =>
    new InputError(
      `${where}.column: ${why}; changing it this way is not supported by this version of tidal yet`,
    );
  if (table.created || !info) {
    throw new InputError(
      `${where}.table: table "${table.name}" is created by this same migration; give the column its final shape there`,
    );
  }
  const name = column.physical;
  if (column.identity !== '' || column.generated !== '') {
    throw unsupported(`column "${column.name}" is an identity or generated column`);
  }
  if (table.primaryKey.includes(name) && table.primaryKey.length > 1)
    throw unsupported(`column "${column.name}" is part of a primary key of several columns`);
  for (const c of info.constraints) {
    if (c.type !== 'n' && c.columns.includes(name) && c.columns.some((k) => !group.has(k))) {
      throw unsupported(
        `column "${column.name}" is part of the multi-column constraint "${c.name}"`,
      );
    }
  }
  for (const i of info.indexes) {
    const keys = i.definition.slice(i.definition.indexOf(' USING '));
    const involved = i.columns.includes(name) || (await mentionsColumn(keys, name));
    if (involved && (i.columns.length === 0 || i.columns.some((k) => !group.has(k)))) {
      throw unsupported(
        `column "${column.name}" is part of the multi-column or expression index "${i.name}"`,
      );
    }
  }
  const dependent = await dependentObjects(ctx, table, name);
  if (dependent.length > 0) {
    throw unsupported(
      `column "${column.name}" is used by ${dependent.join(', ')}, which complete could not keep when it drops the old column`,
    );
  }
  // Foreign keys that reference the column are carried over when they are simple.
  const referencing: ReferencingKey[] = [];
  for (const { table: other, key: c } of model.foreignKeysReferencing(table.physical)) {
    if (!c.referencedColumns.includes(name)) continue;
    if (c.columns.length > 1 || other.name === table.physical) {
      throw unsupported(
        `foreign key "${c.name}" of table "${other.name}" references column "${column.name}" ${c.columns.length > 1 ? 'with other columns' : 'from the same table'}`,
      );
    }
    referencing.push({ ...c, table: other.name });
  }
  return { info, referencing };
}

/** What else in the database uses the column (catalog/read.ts, columnDependents): dropping
 *  the old column at complete would fail on each of them. */
async function dependentObjects(
  ctx: PlanContext,
  table: PlannedTable,
  column: string,
): Promise<string[]> {
  // Of a table earlier migrations, not run yet, create or change, the live database knows
  // nothing that holds for it; they also add no dependents the planner would not see.
  if (ctx.afterRawSql || !ctx.model.isLive(table.physical)) return [];
  const dependents = await ctx.checks.answer('column dependents', () =>
    columnDependents(ctx.db, ctx.schema, [
      ...(ctx.previousVersionSchema ? [ctx.previousVersionSchema] : []),
      ...ctx.goneVersionSchemas,
    ]),
  );
  return dependents.get(table.physical)?.get(column) ?? [];
}
