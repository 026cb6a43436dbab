import { checkExpressionOver, checkType, storedType } from '../engine/checks.js';
import type { PlannedColumn, PlannedTable } from '../engine/model.js';
import { InputError } from '../errors.js';
import { catalogStep, type Step, tableStep, type Undoable } from '../executor/step.js';
import type { Column, CreateTable } from '../migration/schema.js';
import { ident } from '../pg/quote.js';
import {
  columnDefinition,
  commentOnColumn,
  commentOnTable,
  qualifiedTable,
  tableConstraintDefinition,
} from './sql.js';
import { emptySteps, type OperationModule } from './types.js';

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
        `CREATE TABLE ${qualifiedTable(schema, o.name)} (${definitions.join(', ')})`,
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
      comments.push(
        catalogStep(commentOnTable(schema, o.name, o.comment), `comment on table "${o.name}"`),
      );
    for (const c of o.columns) {
      if (c.comment !== undefined) {
        comments.push(
          catalogStep(
            commentOnColumn(schema, o.name, c.name, c.comment),
            `comment on column "${o.name}"."${c.name}"`,
          ),
        );
      }
    }
    steps.start.push(...comments);
    steps.rollback.push(
      tableStep(
        table,
        'AccessExclusive',
        `DROP TABLE IF EXISTS ${qualifiedTable(schema, o.name)}`,
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
    return steps;
  },
};

/** A new column's identity and generation, as pg_attribute's attidentity and attgenerated. */
export function generationOf(c: Column): Pick<PlannedColumn, 'identity' | 'generated'> {
  const identity = c.generated?.identity;
  return {
    identity: identity ? (identity.user_specified_values === 'ALWAYS' ? 'a' : 'd') : '',
    generated: c.generated?.expression ? 's' : '',
  };
}
