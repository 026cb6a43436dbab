import { InputError } from '../errors.js';
import type { Column } from '../migration/fields.js';
import type { CreateTable } from '../migration/operations/create-table.js';
import { checkExpressionOver, checkType, isSerialType, storedType } from '../model/checks.js';
import { columnsNamedIn } from '../model/expressions.js';
import { defaultObjectName } from '../model/names.js';
import { emptySteps, type OperationModule } from '../model/operation.js';
import { columnDefinition, tableConstraintDefinition } from '../model/sql-fragments.js';
import { type Step, tableStep, type Undoable } from '../model/step.js';
import type {
  PlannedColumn,
  PlannedConstraint,
  PlannedTable,
  VersionModel,
} from '../model/version-model.js';
import { ident, qualifiedName } from '../pg/quote.js';
import { columnComment, tableComment } from '../techniques/comments.js';

/**
 * create_table: the table is new, so the old version never sees it and it holds no rows; it is
 * created under its final name with all its constraints at start, and dropped by rollback.
 */
export const createTable: OperationModule<CreateTable> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    if (model.relationExists(o.name)) {
      throw new InputError(
        `${where}.name: a table or index named "${o.name}" already exists in schema "${schema}"`,
      );
    }
    for (const [i, column] of o.columns.entries())
      await checkType(ctx, column.type, `columns[${i}].type`);
    const rowColumns = o.columns.map((c) => ({ name: c.name, type: c.type }));
    for (const [i, column] of o.columns.entries()) {
      if (column.check) {
        await checkExpressionOver(
          ctx,
          column.check.constraint,
          { alias: o.name, columns: rowColumns },
          `columns[${i}].check.constraint`,
        );
      }
    }
    for (const [i, c] of (o.constraints ?? []).entries()) {
      for (const column of c.columns ?? []) {
        if (!o.columns.some((col) => col.name === column)) {
          throw new InputError(
            `${where}.constraints[${i}].columns: column "${column}" is not a column of table "${o.name}"`,
          );
        }
      }
      if (c.type === 'check' && c.check) {
        await checkExpressionOver(
          ctx,
          c.check,
          { alias: o.name, columns: rowColumns },
          `constraints[${i}].check`,
        );
      }
    }

    const pk = o.columns.filter((c) => c.pk).map((c) => c.name);
    const definitions = o.columns.map((c) => columnDefinition(schema, c));
    if (pk.length > 0) definitions.push(`PRIMARY KEY (${pk.map(ident).join(', ')})`);
    for (const c of o.constraints ?? []) definitions.push(tableConstraintDefinition(schema, c));

    const table = { schema, name: o.name };
    const referenced = new Set<string>();
    for (const c of o.columns) if (c.references) referenced.add(c.references.table);
    for (const c of o.constraints ?? []) if (c.references) referenced.add(c.references.table);

    const created: Undoable = { kind: 'table', name: o.name };
    const steps = emptySteps();
    steps.start.push(
      tableStep(
        table,
        'AccessExclusive',
        `CREATE TABLE ${qualifiedName(schema, o.name)} (${definitions.join(', ')})`,
        `create table "${o.name}"`,
        // Foreign keys lock the tables they reference while the table is created.
        {
          alsoLocks: [...referenced].map((name) => ({
            table: { schema, name },
            lock: 'ShareRowExclusive' as const,
          })),
          creates: [created],
        },
      ),
    );
    const comments: Step[] = [];
    if (o.comment !== undefined)
      comments.push(tableComment(table, o.comment, `comment on table "${o.name}"`));
    for (const c of o.columns) {
      if (c.comment !== undefined) {
        comments.push(
          columnComment(table, c.name, c.comment, `comment on column "${o.name}"."${c.name}"`),
        );
      }
    }
    steps.start.push(...comments);
    steps.rollback.push(
      tableStep(
        table,
        'AccessExclusive',
        `DROP TABLE IF EXISTS ${qualifiedName(schema, o.name)}`,
        `drop table "${o.name}"`,
        { undoes: created },
      ),
    );

    const planned: PlannedTable = {
      name: o.name,
      physical: o.name,
      created: true,
      columns: o.columns.map((c) => ({
        name: c.name,
        physical: c.name,
        type: storedType(c.type),
        ...(isSerialType(c.type) ? { serial: true } : {}),
        nullable: c.nullable && !c.pk,
        default: c.default ?? null,
        ...generationOf(c),
        added: false,
      })),
      oldColumns: [],
      walkKey: [],
      primaryKey:
        pk.length > 0 ? pk : (o.constraints?.find((c) => c.type === 'primary_key')?.columns ?? []),
      constraintNames: new Set(
        [
          ...(o.constraints ?? []).map((c) => c.name),
          ...o.columns.flatMap((c) => [c.check?.name, c.references?.name]),
        ].filter((n): n is string => n !== undefined),
      ),
    };
    model.addTable(planned);
    model.touch(planned);
    await recordConstraints(model, planned, o, pk);
    return steps;
  },
};

/** The constraints the table is created with, under the names PostgreSQL gives those it names
 *  itself (the primary key's index first, as PostgreSQL creates it first). */
async function recordConstraints(
  model: VersionModel,
  table: PlannedTable,
  o: CreateTable,
  pk: string[],
): Promise<void> {
  const columns = (names: string[] = []) =>
    names.flatMap((name) => table.columns.filter((c) => c.name === name));
  const chosen = new Set<string>();
  const implicitName = (column: string | undefined, label: string) => {
    const name = defaultObjectName(
      o.name,
      column,
      label,
      (n) => chosen.has(n) || model.relationExists(n),
    );
    chosen.add(name);
    return name;
  };
  const references = (target: string, names: string[]): PlannedConstraint['references'] => {
    const referenced = model.table(target);
    return (
      referenced && {
        table: referenced,
        columns: names.flatMap((n) => referenced.columns.filter((c) => c.name === n)),
      }
    );
  };
  const check = async (name: string, expression: string): Promise<PlannedConstraint> => ({
    name,
    type: 'c',
    columns: await columnsNamedIn(table.columns, expression),
    expression,
  });
  const record = (constraint: PlannedConstraint) => model.recordConstraint(table, constraint);
  if (pk.length > 0)
    record({ name: implicitName(undefined, 'pkey'), type: 'p', columns: columns(pk) });
  for (const c of o.columns) {
    if (c.unique)
      record({ name: implicitName(c.name, 'key'), type: 'u', columns: columns([c.name]) });
    if (c.check) record(await check(c.check.name, c.check.constraint));
    if (c.references) {
      const r = c.references;
      record({
        name: r.name,
        type: 'f',
        columns: columns([c.name]),
        references: references(r.table, [r.column]),
      });
    }
  }
  for (const c of o.constraints ?? []) {
    switch (c.type) {
      case 'primary_key':
      case 'unique':
        record({
          name: c.name,
          type: c.type === 'unique' ? 'u' : 'p',
          columns: columns(c.columns),
        });
        break;
      case 'check':
        record(await check(c.name, c.check ?? 'true'));
        break;
      case 'foreign_key':
        record({
          name: c.name,
          type: 'f',
          columns: columns(c.columns),
          references: c.references && references(c.references.table, c.references.columns),
        });
        break;
      case 'exclude': {
        const elements = c.exclude?.elements ?? '';
        record({
          name: c.name,
          type: 'x',
          columns: await columnsNamedIn(table.columns, elements),
          expression: elements,
        });
        break;
      }
    }
  }
}

/** A new column's identity and generation, as pg_attribute's attidentity and attgenerated. */
export function generationOf(c: Column): Pick<PlannedColumn, 'identity' | 'generated'> {
  const identity = c.generated?.identity;
  return {
    identity: identity ? (identity.user_specified_values === 'ALWAYS' ? 'a' : 'd') : '',
    generated: c.generated?.expression ? 's' : '',
  };
}
