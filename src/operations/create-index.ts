import { InputError } from '../errors.js';
import type { CreateIndex, IndexField } from '../migration/operations/create-index.js';
import { checkExpressionOver } from '../model/checks.js';
import { parenthesize } from '../model/expressions.js';
import { emptySteps, type OperationModule } from '../model/operation.js';
import { ident } from '../pg/quote.js';
import {
  buildIndexConcurrently,
  builtIndex,
  dropIndexConcurrently,
} from '../techniques/concurrent-index.js';

/**
 * create_index: built CONCURRENTLY at start, so writes go on during the build; a failed build's
 * invalid index is dropped before a retry. Rollback drops it CONCURRENTLY.
 */
export const createIndex: OperationModule<CreateIndex> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.table, `${where}.table`);
    if (model.relationExists(o.name)) {
      throw new InputError(
        `${where}.name: a table or index named "${o.name}" already exists in schema "${schema}"`,
      );
    }
    if (o.columns.length === 0)
      throw new InputError(`${where}.columns: an index needs at least one column`);
    const elements = o.columns.map((field, i) => {
      const column = model.requireColumn(table, field.column, `${where}.columns[${i}].column`);
      return indexElement(column.physical, field);
    });
    if (o.predicate?.trim()) {
      const row = {
        alias: table.name,
        columns: table.columns.map((c) => ({ name: c.name, type: c.type })),
      };
      await checkExpressionOver(ctx, o.predicate, row, 'predicate');
    }
    // The predicate names the new version's columns; they are physical names except for columns
    // renamed or added by this migration, which an index predicate cannot see yet.
    const renamed = table.columns.filter((c) => c.name !== c.physical);
    if (o.predicate?.trim() && renamed.length > 0) {
      throw new InputError(
        `${where}.predicate: table "${table.name}" has columns renamed or added by this migration (${renamed.map((c) => c.name).join(', ')}); create the partial index in a later migration`,
      );
    }
    let definition = `USING ${o.method} (${elements.join(', ')})`;
    if (o.storage_parameters?.trim()) definition += ` WITH (${o.storage_parameters})`;
    if (o.predicate?.trim()) definition += ` WHERE ${parenthesize(o.predicate)}`;
    model.addRelationName(o.name);
    model.recordIndex(table, {
      name: o.name,
      method: o.method,
      unique: o.unique,
      columns: o.columns.map((field) => model.requireColumn(table, field.column, where)),
      ...(o.predicate?.trim() ? { predicate: o.predicate } : {}),
    });

    const ref = { schema, name: table.physical };
    const steps = emptySteps();
    steps.start.push(
      buildIndexConcurrently(
        ref,
        { name: o.name, unique: o.unique, definition },
        `build index "${o.name}" on "${table.name}" without blocking writes`,
      ),
    );
    steps.rollback.push(
      dropIndexConcurrently(ref, o.name, `drop index "${o.name}"`, {
        undoes: builtIndex(o.name),
      }),
    );
    return steps;
  },
};

function indexElement(physical: string, field: IndexField): string {
  let sql = ident(physical);
  if (field.collate) sql += ` COLLATE ${ident(field.collate)}`;
  if (field.opclass?.name) {
    sql += ` ${ident(field.opclass.name)}`;
    if (field.opclass.params?.length) sql += ` (${field.opclass.params.join(', ')})`;
  }
  if (field.sort) sql += ` ${field.sort}`;
  if (field.nulls) sql += ` NULLS ${field.nulls}`;
  return sql;
}
