/** SQL fragments shared by operations. Names are quoted here; expressions and types come from
 *  migration files, were checked by the parser and the database, and are embedded as written. */
import type {
  CheckConstraint,
  Column,
  ForeignKeyReference,
  TableConstraint,
  TableForeignKeyReference,
} from '../migration/fields.js';
import { dollarQuoted, ident, literal, qualifiedName } from '../pg/quote.js';
import { parenthesize } from './expressions.js';

function deferrable(options: { deferrable?: boolean; initially_deferred?: boolean }): string {
  if (!options.deferrable) return '';
  return options.initially_deferred ? ' DEFERRABLE INITIALLY DEFERRED' : ' DEFERRABLE';
}

/** `REFERENCES ...` of a single-column foreign key. */
export function referencesClause(schema: string, ref: ForeignKeyReference): string {
  return (
    `REFERENCES ${qualifiedName(schema, ref.table)} (${ident(ref.column)})` +
    ` MATCH ${ref.match_type} ON DELETE ${ref.on_delete} ON UPDATE ${ref.on_update}` +
    deferrable(ref)
  );
}

export function checkClause(check: CheckConstraint, expression = check.constraint): string {
  return `CONSTRAINT ${ident(check.name)} ${checkDefinition(expression, check.no_inherit)}`;
}

/** `CHECK (...)` of a constraint, as `ADD CONSTRAINT name` takes it. */
export function checkDefinition(expression: string, noInherit = false): string {
  return `CHECK ${parenthesize(expression)}${noInherit ? ' NO INHERIT' : ''}`;
}

/** The generated/identity clause of a column, or ''. */
export function generatedClause(column: Column): string {
  const generated = column.generated;
  if (!generated) return '';
  if (generated.identity) {
    const options = generated.identity.sequence_options?.trim();
    return ` GENERATED ${generated.identity.user_specified_values} AS IDENTITY${options ? ` (${options})` : ''}`;
  }
  if (generated.expression)
    return ` GENERATED ALWAYS AS ${parenthesize(generated.expression)} STORED`;
  return '';
}

/** A column definition for CREATE TABLE, primary key left to the table constraint. */
export function columnDefinition(schema: string, column: Column): string {
  let sql = `${ident(column.name)} ${column.type}${generatedClause(column)}`;
  if (column.default !== undefined) sql += ` DEFAULT ${parenthesize(column.default)}`;
  if (!column.nullable && !column.pk) sql += ' NOT NULL';
  if (column.unique) sql += ' UNIQUE';
  if (column.check) sql += ` ${checkClause(column.check)}`;
  if (column.references) {
    sql += ` CONSTRAINT ${ident(column.references.name)} ${referencesClause(schema, column.references)}`;
  }
  return sql;
}

function indexParameters(c: TableConstraint): string {
  const p = c.index_parameters;
  if (!p) return '';
  let sql = '';
  if (p.include_columns?.length) sql += ` INCLUDE (${p.include_columns.map(ident).join(', ')})`;
  if (p.storage_parameters?.trim()) sql += ` WITH (${p.storage_parameters})`;
  if (p.tablespace) sql += ` USING INDEX TABLESPACE ${ident(p.tablespace)}`;
  return sql;
}

/** `FOREIGN KEY (...) REFERENCES ...` of a table constraint; names as they are when it runs. */
export function foreignKeyClause(
  schema: string,
  columns: string[],
  ref: TableForeignKeyReference,
): string {
  const onDeleteColumns = ref.on_delete_set_columns?.length
    ? ` (${ref.on_delete_set_columns.map(ident).join(', ')})`
    : '';
  return (
    `FOREIGN KEY (${columns.map(ident).join(', ')}) REFERENCES ${qualifiedName(schema, ref.table)} (${ref.columns.map(ident).join(', ')})` +
    ` MATCH ${ref.match_type} ON DELETE ${ref.on_delete}${onDeleteColumns} ON UPDATE ${ref.on_update}`
  );
}

/** A table constraint of create_table. */
export function tableConstraintDefinition(schema: string, c: TableConstraint): string {
  const name = `CONSTRAINT ${ident(c.name)}`;
  const columns = `(${(c.columns ?? []).map(ident).join(', ')})`;
  switch (c.type) {
    case 'primary_key':
      return `${name} PRIMARY KEY ${columns}${indexParameters(c)}${deferrable(c)}`;
    case 'unique':
      return `${name} UNIQUE${c.nulls_not_distinct ? ' NULLS NOT DISTINCT' : ''} ${columns}${indexParameters(c)}${deferrable(c)}`;
    case 'check':
      return `${name} CHECK ${parenthesize(c.check ?? '')}${c.no_inherit ? ' NO INHERIT' : ''}`;
    case 'foreign_key': {
      if (!c.references) throw new Error('foreign_key constraint without references');
      return `${name} ${foreignKeyClause(schema, c.columns ?? [], c.references)}${deferrable(c)}`;
    }
    case 'exclude': {
      const ex = c.exclude;
      const method = ex?.index_method?.trim() ? ` USING ${ident(ex.index_method.trim())}` : '';
      const where = ex?.predicate?.trim() ? ` WHERE ${parenthesize(ex.predicate)}` : '';
      return `${name} EXCLUDE${method} (${ex?.elements ?? ''})${indexParameters(c)}${where}${deferrable(c)}`;
    }
  }
}

export function commentOnColumn(
  schema: string,
  table: string,
  column: string,
  comment: string | null,
): string {
  return `COMMENT ON COLUMN ${qualifiedName(schema, table)}.${ident(column)} IS ${comment === null ? 'NULL' : literal(comment)}`;
}

export function commentOnTable(schema: string, table: string, comment: string | null): string {
  return `COMMENT ON TABLE ${qualifiedName(schema, table)} IS ${comment === null ? 'NULL' : literal(comment)}`;
}

/** A condition that holds where table `t` (quoted and qualified) has a constraint `name`: for
 *  steps that must be no-ops where it is there already, or gone. */
export function constraintExistsCondition(t: string, name: string): string {
  return `EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = pg_catalog.to_regclass(${literal(t)}) AND conname = ${literal(name)})`;
}

/** `DO` with a dollar-quote tag that does not occur in the body: for steps that must be safe to
 *  run again, or to run after a start that stopped before the step they undo. */
export function doBlock(body: string, declare = ''): string {
  return `DO ${dollarQuoted(` ${declare ? `DECLARE ${declare} ` : ''}BEGIN ${body} END `)}`;
}
