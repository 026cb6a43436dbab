/**
 * `tidal convert`: plain SQL, such as an ORM's generated migration, into one tidal migration.
 * Statements are read with PostgreSQL's own grammar and mapped in order; statements that belong
 * together become one operation:
 *
 * - ADD COLUMN, an UPDATE that fills it, SET NOT NULL: one add_column with `up`;
 * - ALTER TYPE, SET/DROP NOT NULL, SET/DROP DEFAULT and a RENAME of one column: one alter_column;
 * - a foreign key added to a table the same SQL creates: a constraint of its create_table.
 *
 * What the SQL does not say (the old type a `down` casts back to, the value of a NOT NULL column
 * for the rows already there) is left as a placeholder that loading refuses until it is written
 * (unwritten.ts), and listed. A statement with no tidal operation becomes a `sql` operation, and
 * is listed too.
 */
import type {
  AlterTableCmd,
  AlterTableStmt,
  ColumnDef,
  Constraint,
  CreateStmt,
  DropStmt,
  IndexStmt,
  Node,
  RenameStmt,
  UpdateStmt,
} from 'libpg-query';
import { stringify } from 'yaml';
import { InputError } from '../errors.js';
import type { OperationInFile, OperationOptionsInFile } from '../migration/schema.js';
import { tryParseStatements } from '../migration/sql-text.js';
import { unwrittenExpression, unwrittenRequest } from '../migration/unwritten.js';
import {
  columnRefName,
  columnSql,
  expressionText,
  referencedColumns,
  relationName,
  statementText,
  strings,
  typeText,
  withColumnRenamed,
} from './nodes.js';

/** Something the user should know about the conversion, at a statement of the input. */
export interface ConvertNote {
  file: string;
  line: number;
  message: string;
}

/** A field tidal left for the user to write, by its path in the migration. */
export interface UnwrittenField {
  path: string;
  request: string;
}

export interface Conversion {
  operations: OperationInFile[];
  /** The migration as a YAML file, with a comment naming its sources. */
  yaml: string;
  /** Statements that became `sql` operations, or were left out, and why. */
  notes: ConvertNote[];
  unwritten: UnwrittenField[];
}

/** A SQL text to convert, and the name to report it by. */
export interface SqlSource {
  file: string;
  text: string;
}

type AddColumnIn = OperationOptionsInFile<'add_column'>;
type ColumnIn = AddColumnIn['column'];
type CreateTableIn = OperationOptionsInFile<'create_table'>;
/** alter_column's options, built up one statement at a time. */
type AlterColumnIn = {
  -readonly [K in keyof OperationOptionsInFile<'alter_column'>]: OperationOptionsInFile<'alter_column'>[K];
};

/** A statement of the input, with where it is. */
interface SourceStatement {
  file: string;
  line: number;
  node: Node;
  text: string;
}

/**
 * The tidal operations one parsed statement maps to on its own (what `tidal lint` suggests for
 * it), leaving out what would stay a `sql` operation.
 */
export function operationsOf(node: Node): OperationInFile[] {
  const converter = new Converter();
  converter.add({ file: '', line: 0, node, text: '' });
  return converter.operations().filter((operation) => !('sql' in operation));
}

/** Converts `sources`, in order, into one migration. Throws InputError on SQL that does not parse. */
export function convertSql(sources: SqlSource[]): Conversion {
  const statements = sources.flatMap(readStatements);
  const converter = new Converter();
  for (const statement of statements) converter.add(statement);
  return converter.finish(sources.map((s) => s.file));
}

function readStatements(source: SqlSource): SourceStatement[] {
  const parsed = tryParseStatements(source.text);
  if (typeof parsed === 'string') throw new InputError(`${source.file}: ${parsed}`);
  let searchFrom = 0;
  return parsed.map(({ text, node }) => {
    const at = source.text.indexOf(text, searchFrom);
    if (at >= 0) searchFrom = at + text.length;
    const before = source.text.slice(0, Math.max(at, 0) + leadingComments(text));
    return {
      file: source.file,
      line: before.split('\n').length,
      node,
      text: withoutComments(text),
    };
  });
}

/** How many characters of comments and blank space a statement's text starts with. */
function leadingComments(text: string): number {
  const match = /^(?:\s*(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/))*\s*/.exec(text);
  return match?.[0].length ?? 0;
}

function withoutComments(text: string): string {
  return text.slice(leadingComments(text));
}

const key = (table: string, column: string) => `${table}\u0000${column}`;

/** One entry of the migration being built: an operation, or nothing once merged away. */
interface Entry {
  statement: SourceStatement;
  operation: OperationInFile | null;
}

class Converter {
  private readonly entries: Entry[] = [];
  private readonly notes: ConvertNote[] = [];
  /** Columns added by add_column, by table and name: a later UPDATE or SET NOT NULL joins them. */
  private readonly added = new Map<string, AddColumnIn>();
  /** alter_column operations by table and the column's name after them. */
  private readonly altered = new Map<string, AlterColumnIn>();
  /** UPDATEs that fill one column, not yet joined to a SET NOT NULL; `sql` until they are. */
  private readonly fills = new Map<
    string,
    { expression: string; onlyNull: boolean; entry: Entry }
  >();
  /** Tables the input creates, by name: their later constraints join create_table. */
  private readonly created = new Map<string, CreateTableIn>();

  add(statement: SourceStatement): void {
    const { node } = statement;
    if ('TransactionStmt' in node) {
      this.note(statement, 'left out: tidal runs each step in a transaction of its own');
    } else if ('VariableSetStmt' in node && isTimeoutSetting(node.VariableSetStmt.name)) {
      this.note(
        statement,
        'left out: tidal sets its own lock_timeout for each step (--lock-timeout)',
      );
    } else if ('CreateStmt' in node) this.createTable(statement, node.CreateStmt);
    else if ('AlterTableStmt' in node) this.alterTable(statement, node.AlterTableStmt);
    else if ('RenameStmt' in node) this.rename(statement, node.RenameStmt);
    else if ('IndexStmt' in node) this.createIndex(statement, node.IndexStmt);
    else if ('DropStmt' in node) this.drop(statement, node.DropStmt);
    else if ('UpdateStmt' in node) this.update(statement, node.UpdateStmt);
    else this.sql(statement, 'no tidal operation does this');
  }

  /** The migration's operations so far, merged. */
  operations(): OperationInFile[] {
    // A NOT NULL column with nothing to give the rows already there a value.
    for (const added of this.added.values()) {
      const c = added.column;
      if (c.nullable === false && added.up === undefined && c.default === undefined && !c.generated)
        added.up = unwrittenExpression(
          `the value of ${c.name} for the rows already in ${added.table}`,
        );
    }
    return this.entries.flatMap(({ operation }): OperationInFile[] => {
      if (!operation) return [];
      if ('alter_column' in operation) {
        const { table, column, name, ...changes } = operation.alter_column;
        // An alter_column that only renames is a rename_column.
        if (name !== undefined && Object.keys(changes).length === 0)
          return [{ rename_column: { table, from: column, to: name } }];
        // `up` reads the old version's columns, `down` the new version's: with a rename, each
        // names the column as its version does, whichever order the SQL put them in.
        if (name !== undefined) {
          const { up, down } = operation.alter_column;
          const alter = { ...operation.alter_column };
          if (up !== undefined && unwrittenRequest(up) === undefined)
            alter.up = withColumnRenamed(up, name, column);
          if (down !== undefined && unwrittenRequest(down) === undefined)
            alter.down = withColumnRenamed(down, column, name);
          return [{ alter_column: alter }];
        }
      }
      return [operation];
    });
  }

  finish(files: string[]): Conversion {
    this.noteDropAndAddPairs();
    const operations = this.operations();
    const unwritten: UnwrittenField[] = [];
    findUnwritten(operations, 'operations', unwritten);
    const header = [
      `# Converted by tidal convert from ${files.join(', ')}.`,
      ...(unwritten.length > 0
        ? [
            `# ${unwritten.length} field(s) marked TODO(tidal) are for you to write; until then tidal refuses the file.`,
          ]
        : []),
    ];
    const yaml = `${header.join('\n')}\n${stringify({ operations }, { lineWidth: 0 })}`;
    return { operations, yaml, notes: this.notes, unwritten };
  }

  /**
   * A column dropped and another added by one ALTER TABLE may be a rename: Prisma Migrate, which
   * does not detect renames, writes one so. As written, the dropped column's values are lost to
   * the new one unless its `up` copies them, and the old version reads no value for rows the new
   * version writes unless the drop_column has a `down`.
   */
  private noteDropAndAddPairs(): void {
    for (const { statement, operation } of this.entries) {
      if (!operation || !('drop_column' in operation)) continue;
      const { table, column } = operation.drop_column;
      // In the same statement, as Prisma Migrate writes them.
      const added = this.entries.flatMap((e) =>
        e.statement === statement && e.operation && 'add_column' in e.operation
          ? [e.operation.add_column.column.name]
          : [],
      );
      if (added.length === 0) continue;
      const names = added.map((n) => `"${n}"`).join(' or ');
      this.note(
        statement,
        `drops column "${column}" of "${table}" and adds ${names}: if that is a rename (Prisma Migrate writes renames as a drop and an add), replace both with a rename_column; otherwise the added column's \`up\` decides what the rows already there get, and a \`down\` on the drop_column gives the old version a value for rows the new version writes`,
      );
    }
  }

  private push(statement: SourceStatement, operation: OperationInFile): Entry {
    const entry = { statement, operation };
    this.entries.push(entry);
    return entry;
  }

  private note(statement: SourceStatement, message: string): void {
    this.notes.push({ file: statement.file, line: statement.line, message });
  }

  /** A statement kept as it is, in a `sql` operation. */
  private sql(statement: SourceStatement, why: string, text = statement.text): Entry {
    this.note(statement, `kept as a sql operation: ${why}`);
    return this.push(statement, { sql: { up: text } });
  }

  private createTable(statement: SourceStatement, stmt: CreateStmt): void {
    const name = relationName(stmt.relation);
    const unsupported =
      stmt.relation?.relpersistence === 't' ||
      stmt.partspec !== undefined ||
      (stmt.inhRelations?.length ?? 0) > 0 ||
      stmt.partbound !== undefined ||
      stmt.ofTypename !== undefined ||
      (stmt.options?.length ?? 0) > 0;
    const columns: ColumnIn[] = [];
    const constraints: Record<string, unknown>[] = [];
    let mapped = !unsupported;
    for (const element of stmt.tableElts ?? []) {
      if ('ColumnDef' in element) {
        const column = columnIn(name, element.ColumnDef);
        if (column) columns.push(column);
        else mapped = false;
      } else if ('Constraint' in element) {
        const constraint = tableConstraint(name, element.Constraint);
        if (constraint) constraints.push(constraint);
        else mapped = false;
      } else mapped = false;
    }
    if (!mapped) {
      this.sql(
        statement,
        'a table tidal create_table cannot describe (partitions, inheritance, options or LIKE)',
      );
      return;
    }
    const options: CreateTableIn = {
      name,
      columns,
      ...(constraints.length > 0
        ? { constraints: constraints as CreateTableIn['constraints'] }
        : {}),
    };
    this.created.set(name, options);
    this.push(statement, { create_table: options });
  }

  private alterTable(statement: SourceStatement, stmt: AlterTableStmt): void {
    const table = relationName(stmt.relation);
    const rest: Node[] = [];
    for (const n of stmt.cmds ?? []) {
      if (!('AlterTableCmd' in n) || !this.alterCommand(statement, table, n.AlterTableCmd))
        rest.push(n);
    }
    if (rest.length === 0) return;
    // What no operation does stays SQL, as its own ALTER TABLE.
    const kept = statementText({ AlterTableStmt: { ...stmt, cmds: rest } } as Node);
    this.sql(
      statement,
      `no tidal operation does ${rest.length === stmt.cmds?.length ? 'this' : 'part of this'}`,
      kept,
    );
  }

  /** Maps one ALTER TABLE command; false when it has no tidal operation. */
  private alterCommand(statement: SourceStatement, table: string, cmd: AlterTableCmd): boolean {
    const def = cmd.def;
    const column = cmd.name ?? '';
    switch (cmd.subtype) {
      case 'AT_AddColumn': {
        if (!def || !('ColumnDef' in def)) return false;
        const added = columnIn(table, def.ColumnDef);
        if (!added) return false;
        const created = this.created.get(table);
        if (created) {
          created.columns.push(added);
          return true;
        }
        const options: AddColumnIn = { table, column: added };
        this.added.set(key(table, added.name), options);
        this.push(statement, { add_column: options });
        return true;
      }
      case 'AT_DropColumn':
        this.push(statement, { drop_column: { table, column } });
        return true;
      case 'AT_AlterColumnType': {
        if (!def || !('ColumnDef' in def)) return false;
        const type = typeText(def.ColumnDef.typeName);
        const using = def.ColumnDef.raw_default;
        const alter = this.alter(statement, table, column);
        alter.type = type;
        alter.up = using ? expressionText(using) : `CAST(${columnSql(column)} AS ${type})`;
        alter.down = unwrittenExpression(
          `${column} in the old type from the new one, e.g. CAST(${columnSql(column)} AS <the type before>)`,
        );
        return true;
      }
      case 'AT_SetNotNull': {
        const added = this.added.get(key(table, column));
        const fill = this.fills.get(key(table, column));
        if (added) {
          added.column.nullable = false;
          return true;
        }
        const alter = this.alter(statement, table, column);
        alter.nullable = false;
        if (fill) {
          alter.up = fill.onlyNull
            ? `coalesce(${columnSql(column)}, ${fill.expression})`
            : fill.expression;
          fill.entry.operation = null;
          this.fills.delete(key(table, column));
        } else {
          alter.up = unwrittenExpression(
            `${column} for the rows where it is NULL, e.g. coalesce(${columnSql(column)}, <a value>)`,
          );
        }
        alter.down ??= columnSql(column);
        return true;
      }
      case 'AT_DropNotNull': {
        const alter = this.alter(statement, table, column);
        alter.nullable = true;
        alter.up ??= columnSql(column);
        alter.down = unwrittenExpression(
          `${column} for the rows the new version leaves NULL (the old version needs a value), e.g. coalesce(${columnSql(column)}, <a value>)`,
        );
        return true;
      }
      case 'AT_ColumnDefault': {
        const value = def ? expressionText(def) : null;
        const added = this.added.get(key(table, column));
        if (added && value !== null) added.column.default = value;
        else this.alter(statement, table, column).default = value;
        return true;
      }
      case 'AT_AddConstraint':
        return !!def && 'Constraint' in def && this.addConstraint(statement, table, def.Constraint);
      case 'AT_ValidateConstraint':
        this.note(statement, 'left out: tidal validates the constraints it adds');
        return true;
      case 'AT_DropConstraint':
        this.push(statement, {
          drop_constraint: {
            table,
            name: column,
            up: unwrittenExpression(
              `the constrained column in the new version, usually the column itself`,
            ),
            down: unwrittenExpression(
              `the constrained column for the old version, for rows its ${column} would refuse`,
            ),
          },
        });
        return true;
      default:
        return false;
    }
  }

  /** The alter_column of `column` of `table` (by its current name), made on first use. */
  private alter(statement: SourceStatement, table: string, column: string): AlterColumnIn {
    const existing = this.altered.get(key(table, column));
    if (existing) return existing;
    const options: AlterColumnIn = { table, column };
    this.altered.set(key(table, column), options);
    this.push(statement, { alter_column: options });
    return options;
  }

  private addConstraint(statement: SourceStatement, table: string, c: Constraint): boolean {
    const created = this.created.get(table);
    const constraint = tableConstraint(table, c);
    if (!constraint) return false;
    if (created) {
      created.constraints = [
        ...(created.constraints ?? []),
        constraint as NonNullable<CreateTableIn['constraints']>[number],
      ];
      return true;
    }
    const columns =
      (constraint.columns as string[] | undefined) ??
      (c.raw_expr ? referencedColumns(c.raw_expr) : []);
    const why: Record<string, string> = {
      check: 'that break the check',
      unique: 'whose values repeat',
      primary_key: 'whose values repeat or are NULL',
      foreign_key: 'whose reference is missing',
    };
    const kind = String(constraint.type);
    const up = Object.fromEntries(
      columns.map((col) => [
        col,
        unwrittenExpression(
          `${col} for the rows ${why[kind] ?? ''} (${columnSql(col)} itself when there are none)`,
        ),
      ]),
    );
    const down = Object.fromEntries(columns.map((col) => [col, columnSql(col)]));
    const {
      deferrable: _d,
      initially_deferred: _i,
      nulls_not_distinct: _n,
      exclude: _e,
      ...rest
    } = constraint;
    this.push(statement, {
      create_constraint: { table, ...rest, ...(kind === 'check' ? { columns } : {}), up, down },
    } as unknown as OperationInFile);
    return true;
  }

  private rename(statement: SourceStatement, r: RenameStmt): void {
    const table = relationName(r.relation);
    if (r.renameType === 'OBJECT_COLUMN' && r.subname && r.newname) {
      const existing = this.altered.get(key(table, r.subname));
      if (existing) {
        this.altered.delete(key(table, r.subname));
        existing.name = r.newname;
        this.altered.set(key(table, r.newname), existing);
        return;
      }
      const options: AlterColumnIn = { table, column: r.subname, name: r.newname };
      this.altered.set(key(table, r.newname), options);
      this.push(statement, { alter_column: options });
      return;
    }
    if (r.renameType === 'OBJECT_TABLE' && r.newname) {
      this.push(statement, { rename_table: { from: table, to: r.newname } });
      return;
    }
    if (r.renameType === 'OBJECT_TABCONSTRAINT' && r.subname && r.newname) {
      this.push(statement, { rename_constraint: { table, from: r.subname, to: r.newname } });
      return;
    }
    this.sql(statement, 'no tidal operation renames this');
  }

  private createIndex(statement: SourceStatement, i: IndexStmt): void {
    const table = relationName(i.relation);
    const columns = (i.indexParams ?? []).flatMap((p) => {
      if (!('IndexElem' in p) || !p.IndexElem.name) return [];
      const e = p.IndexElem;
      return [
        {
          column: e.name,
          ...(e.ordering === 'SORTBY_DESC' ? { sort: 'DESC' } : {}),
          ...(e.nulls_ordering === 'SORTBY_NULLS_FIRST' ? { nulls: 'FIRST' } : {}),
          ...(e.nulls_ordering === 'SORTBY_NULLS_LAST' ? { nulls: 'LAST' } : {}),
          ...(e.opclass?.length ? { opclass: { name: strings(e.opclass).at(-1) } } : {}),
        },
      ];
    });
    const method = i.accessMethod ?? 'btree';
    const methods = ['btree', 'hash', 'gist', 'spgist', 'gin', 'brin'];
    // An expression index, INCLUDE columns or options have no create_index field.
    if (
      columns.length !== (i.indexParams ?? []).length ||
      (i.indexIncludingParams?.length ?? 0) > 0 ||
      (i.options?.length ?? 0) > 0 ||
      !methods.includes(method)
    ) {
      this.sql(
        statement,
        'an index create_index cannot describe (expressions, INCLUDE or options)',
      );
      return;
    }
    this.push(statement, {
      create_index: {
        name: i.idxname ?? `${table}_${columns.map((c) => c.column).join('_')}_idx`,
        table,
        columns,
        ...(method !== 'btree' ? { method } : {}),
        ...(i.unique ? { unique: true } : {}),
        ...(i.whereClause ? { predicate: expressionText(i.whereClause) } : {}),
      },
    } as unknown as OperationInFile);
  }

  private drop(statement: SourceStatement, d: DropStmt): void {
    const names = (d.objects ?? []).map(
      (o) => strings('List' in o ? o.List.items : []).at(-1) ?? '',
    );
    if (d.behavior === 'DROP_CASCADE') {
      this.sql(statement, 'CASCADE drops what depends on it, which tidal leaves to you');
      return;
    }
    if (d.removeType === 'OBJECT_TABLE') {
      for (const name of names) this.push(statement, { drop_table: { name } });
    } else if (d.removeType === 'OBJECT_INDEX') {
      for (const name of names) this.push(statement, { drop_index: { name } });
    } else this.sql(statement, 'no tidal operation drops this');
  }

  /** `UPDATE t SET c = e [WHERE c IS NULL]`: the `up` of a column added or made NOT NULL. */
  private update(statement: SourceStatement, u: UpdateStmt): void {
    const table = relationName(u.relation);
    const targets = (u.targetList ?? []).flatMap((t) => ('ResTarget' in t ? [t.ResTarget] : []));
    const plain = (u.fromClause?.length ?? 0) === 0 && !u.returningClause && !u.withClause;
    const [target] = targets;
    const column = target?.name;
    const onlyNull = isNullTest(u.whereClause, column);
    if (!plain || targets.length !== 1 || !column || !target?.val || (u.whereClause && !onlyNull)) {
      this.sql(statement, 'a data change tidal does not tie to a column it adds or alters');
      return;
    }
    const expression = expressionText(target.val);
    const added = this.added.get(key(table, column));
    if (added && added.up === undefined) {
      added.up = expression;
      return;
    }
    // Joined to a SET NOT NULL that follows, or kept as SQL.
    const entry = this.sql(
      statement,
      'a data change tidal does not tie to a column it adds or alters',
    );
    this.fills.set(key(table, column), { expression, onlyNull, entry });
  }
}

function isTimeoutSetting(name: string | undefined): boolean {
  return name === 'lock_timeout' || name === 'statement_timeout';
}

/** Whether `where` is `column IS NULL`. */
function isNullTest(where: Node | undefined, column: string | undefined): boolean {
  return (
    !!where &&
    'NullTest' in where &&
    where.NullTest.nulltesttype === 'IS_NULL' &&
    columnRefName(where.NullTest.arg) === column
  );
}

/** A column definition as a migration's column, or null when it has what tidal cannot say. */
function columnIn(table: string, def: ColumnDef): ColumnIn | null {
  const column: ColumnIn = {
    name: def.colname ?? '',
    type: typeText(def.typeName),
    nullable: true,
  };
  const type = column.type.toLowerCase();
  const serial: Record<string, string> = {
    serial: 'integer',
    bigserial: 'bigint',
    smallserial: 'smallint',
  };
  if (serial[type]) {
    // A serial column's sequence and default come from its type.
    column.type = serial[type];
    column.generated = { identity: { user_specified_values: 'BY DEFAULT' } };
    column.nullable = false;
  }
  for (const n of def.constraints ?? []) {
    if (!('Constraint' in n)) return null;
    const c = n.Constraint;
    switch (c.contype) {
      case 'CONSTR_NOTNULL':
        column.nullable = false;
        break;
      case 'CONSTR_NULL':
        break;
      case 'CONSTR_DEFAULT':
        if (c.raw_expr) column.default = expressionText(c.raw_expr);
        break;
      case 'CONSTR_PRIMARY':
        column.pk = true;
        column.nullable = false;
        break;
      case 'CONSTR_UNIQUE':
        column.unique = true;
        break;
      case 'CONSTR_CHECK':
        if (!c.raw_expr) return null;
        column.check = {
          name: c.conname ?? `${table}_${column.name}_check`,
          constraint: expressionText(c.raw_expr),
        };
        break;
      case 'CONSTR_FOREIGN': {
        const [referenced] = strings(c.pk_attrs);
        if (!referenced) return null;
        column.references = {
          name: c.conname ?? `${table}_${column.name}_fkey`,
          table: relationName(c.pktable),
          column: referenced,
          ...referentialActions(c),
        };
        break;
      }
      case 'CONSTR_IDENTITY':
        column.generated = {
          identity: { user_specified_values: c.generated_when === 'd' ? 'BY DEFAULT' : 'ALWAYS' },
        };
        column.nullable = false;
        break;
      case 'CONSTR_GENERATED':
        if (!c.raw_expr) return null;
        column.generated = { expression: expressionText(c.raw_expr) };
        break;
      default:
        return null;
    }
  }
  return column;
}

/** A table constraint as create_table (and create_constraint) write it, or null. */
function tableConstraint(table: string, c: Constraint): Record<string, unknown> | null {
  // NOT VALID is left out: tidal adds every constraint without blocking and validates it itself.
  switch (c.contype) {
    case 'CONSTR_PRIMARY':
    case 'CONSTR_UNIQUE': {
      if (c.indexname) return null;
      const columns = strings(c.keys);
      const primary = c.contype === 'CONSTR_PRIMARY';
      return {
        name: c.conname ?? `${table}_${primary ? 'pkey' : `${columns.join('_')}_key`}`,
        type: primary ? 'primary_key' : 'unique',
        columns,
        ...(c.nulls_not_distinct ? { nulls_not_distinct: true } : {}),
      };
    }
    case 'CONSTR_CHECK':
      if (!c.raw_expr) return null;
      return {
        name: c.conname ?? `${table}_check`,
        type: 'check',
        check: expressionText(c.raw_expr),
        ...(c.is_no_inherit ? { no_inherit: true } : {}),
      };
    case 'CONSTR_FOREIGN': {
      const columns = strings(c.fk_attrs);
      return {
        name: c.conname ?? `${table}_${columns.join('_')}_fkey`,
        type: 'foreign_key',
        columns,
        references: {
          table: relationName(c.pktable),
          columns: strings(c.pk_attrs),
          ...referentialActions(c),
        },
      };
    }
    default:
      return null;
  }
}

const ACTIONS: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

function referentialActions(c: Constraint): Record<string, string> {
  const onDelete = ACTIONS[c.fk_del_action ?? 'a'];
  const onUpdate = ACTIONS[c.fk_upd_action ?? 'a'];
  return {
    ...(onDelete && onDelete !== 'NO ACTION' ? { on_delete: onDelete } : {}),
    ...(onUpdate && onUpdate !== 'NO ACTION' ? { on_update: onUpdate } : {}),
  };
}

/** The placeholders left in `value`, by their paths. */
function findUnwritten(value: unknown, path: string, into: UnwrittenField[]): void {
  if (typeof value === 'string') {
    const request = unwrittenRequest(value);
    if (request !== undefined) into.push({ path, request });
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) findUnwritten(v, `${path}[${i}]`, into);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) findUnwritten(v, `${path}.${k}`, into);
  }
}
