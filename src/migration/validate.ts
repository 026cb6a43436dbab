/**
 * Checks of a parsed migration that need no database: the SQL text of every expression and
 * statement, and rules that span fields (a NOT NULL column needs a value for existing rows...).
 */
import { type Path, type Problem, problemsError } from './problems.js';
import {
  type Column,
  type CreateConstraint,
  type CreateTable,
  type IndexParameters,
  identifierProblem,
  indexMethodSchema,
  MAX_TABLE_COLUMNS,
  type Migration,
  type Operation,
  type TableForeignKeyReference,
} from './schema.js';
import {
  checkExcludeElements,
  checkExpression,
  checkSequenceOptions,
  checkStorageParameters,
  checkTypeName,
  tryParseStatements,
} from './sql-text.js';

/** Throws InputError listing what is wrong (file, operation index, field). Needs initSqlParser(). */
export function validateMigration(migration: Migration, file: string): void {
  const checks = new Checks();
  // An empty migration would still make a version schema and a history entry, for nothing.
  if (migration.operations.length === 0) {
    checks.problem(['operations'], 'no operations: a migration needs at least one');
  }
  migration.operations.forEach((operation, index) => {
    checkOperation(operation, ['operations', index, operation.kind], checks);
  });
  if (checks.problems.length > 0) throw problemsError(file, checks.problems);
}

class Checks {
  readonly problems: Problem[] = [];
  /** Outcomes by check and text: a file repeats its types and many of its expressions, and
   *  the parser's answer for one text is always the same. */
  private readonly outcomes = new Map<
    (text: string) => string | undefined,
    Map<string, string | undefined>
  >();

  problem(path: Path, message: string): void {
    this.problems.push({ path, message });
  }

  /** Runs `check` on `text` when it is given, reporting `what` it should have been. */
  sql(
    path: Path,
    text: string | undefined,
    check: (text: string) => string | undefined,
    what: string,
  ) {
    if (text === undefined) return;
    let outcomes = this.outcomes.get(check);
    if (!outcomes) {
      outcomes = new Map();
      this.outcomes.set(check, outcomes);
    }
    let problem = outcomes.get(text);
    if (problem === undefined && !outcomes.has(text)) {
      problem = check(text);
      outcomes.set(text, problem);
    }
    if (problem) this.problem(path, `not ${what}: ${problem}`);
  }

  expression(path: Path, text: string | undefined): void {
    this.sql(path, text, checkExpression, 'a valid SQL expression');
  }

  statements(path: Path, text: string | undefined): void {
    if (text === undefined) return;
    const statements = tryParseStatements(text);
    if (typeof statements === 'string') {
      this.problem(path, `not valid SQL: ${statements}`);
      return;
    }
    if (statements.length === 0) this.problem(path, 'contains no SQL statement');
    for (const { text: statement, node } of statements) {
      // The executor decides where transactions begin and end.
      if ('TransactionStmt' in node) {
        this.problem(path, `"${statement}" controls transactions, which tidal does itself`);
      }
    }
  }

  storageParameters(path: Path, text: string | undefined): void {
    this.sql(path, text, checkStorageParameters, 'valid storage parameters');
  }

  /** Each of `names` must be one of `allowed`; `what` says where they were looked for. */
  memberOf(
    path: Path,
    names: readonly string[] | undefined,
    allowed: readonly string[],
    what: string,
  ) {
    names?.forEach((name, index) => {
      if (!allowed.includes(name)) this.problem([...path, index], `no column "${name}" in ${what}`);
    });
  }
}

function checkOperation(operation: Operation, at: Path, c: Checks): void {
  switch (operation.kind) {
    case 'add_column': {
      const { column, up } = operation.options;
      checkColumn(column, [...at, 'column'], c);
      c.expression([...at, 'up'], up);
      if (
        !column.nullable &&
        column.default === undefined &&
        up === undefined &&
        !column.generated
      ) {
        c.problem(
          [...at, 'column'],
          `column "${column.name}" is NOT NULL with neither a default nor "up": existing rows would have no value for it (give "up" to compute one, a "default", or "nullable: true")`,
        );
      }
      return;
    }
    case 'alter_column': {
      const o = operation.options;
      c.sql([...at, 'type'], o.type, checkTypeName, 'a valid type');
      c.expression([...at, 'default'], o.default ?? undefined);
      c.expression([...at, 'check', 'constraint'], o.check?.constraint);
      c.expression([...at, 'up'], o.up);
      c.expression([...at, 'down'], o.down);
      return;
    }
    case 'create_table':
      checkCreateTable(operation.options, at, c);
      return;
    case 'drop_column':
      c.expression([...at, 'down'], operation.options.down);
      return;
    case 'rename_column':
    case 'rename_table':
    case 'rename_constraint':
      if (operation.options.from === operation.options.to) {
        c.problem(
          [...at, 'to'],
          `the same as "from" ("${operation.options.from}"): nothing to rename`,
        );
      }
      return;
    case 'create_index': {
      const o = operation.options;
      if (o.columns.length === 0) {
        c.problem([...at, 'columns'], 'an index needs at least one column');
      }
      o.columns.forEach((field, index) => {
        field.opclass?.params?.forEach((param, p) => {
          c.storageParameters([...at, 'columns', index, 'opclass', 'params', p], param);
        });
      });
      c.expression([...at, 'predicate'], o.predicate);
      c.storageParameters([...at, 'storage_parameters'], o.storage_parameters);
      return;
    }
    case 'create_constraint':
      checkCreateConstraint(operation.options, at, c);
      return;
    case 'drop_constraint':
      c.expression([...at, 'up'], operation.options.up);
      c.expression([...at, 'down'], operation.options.down);
      return;
    case 'drop_multicolumn_constraint':
      // Which columns the constraint covers is known only to the database.
      checkColumnExpressions(operation.options.up, undefined, [...at, 'up'], c);
      checkColumnExpressions(operation.options.down, undefined, [...at, 'down'], c);
      return;
    case 'set_replica_identity': {
      const { type, index } = operation.options.identity;
      const path = [...at, 'identity'];
      if (!REPLICA_IDENTITIES.includes(type.toLowerCase())) {
        c.problem(
          [...path, 'type'],
          `expected one of ${REPLICA_IDENTITIES.join(', ')}, got "${type}"`,
        );
      } else if (type.toLowerCase() === 'index') {
        const problem =
          index === undefined ? 'required when type is index' : identifierProblem(index);
        if (problem) c.problem([...path, 'index'], problem);
      } else if (index) {
        c.problem([...path, 'index'], `only used when type is index, not ${type}`);
      }
      return;
    }
    case 'sql':
      c.statements([...at, 'up'], operation.options.up);
      c.statements([...at, 'down'], operation.options.down);
      return;
    case 'drop_index':
    case 'drop_table':
      return;
  }
}

const REPLICA_IDENTITIES = ['default', 'full', 'nothing', 'index'];

function checkColumn(column: Column, at: Path, c: Checks): void {
  c.sql([...at, 'type'], column.type, checkTypeName, 'a valid type');
  c.expression([...at, 'default'], column.default);
  c.expression([...at, 'check', 'constraint'], column.check?.constraint);
  const { generated } = column;
  if (!generated) return;
  const path = [...at, 'generated'];
  if (generated.expression !== undefined && generated.identity !== undefined) {
    c.problem(path, 'give either expression or identity, not both');
  } else if (generated.expression === undefined && generated.identity === undefined) {
    c.problem(path, 'give expression or identity');
  }
  c.expression([...path, 'expression'], generated.expression);
  const options = generated.identity?.sequence_options;
  c.sql(
    [...path, 'identity', 'sequence_options'],
    options,
    checkSequenceOptions,
    'valid sequence options',
  );
  if (column.default !== undefined) {
    c.problem([...at, 'default'], 'a generated column cannot have a default');
  }
}

function checkCreateTable(o: CreateTable, at: Path, c: Checks): void {
  if (o.columns.length === 0) c.problem([...at, 'columns'], 'a table needs at least one column');
  if (o.columns.length > MAX_TABLE_COLUMNS) {
    c.problem(
      [...at, 'columns'],
      `${o.columns.length} columns; PostgreSQL allows at most ${MAX_TABLE_COLUMNS} in a table`,
    );
  }
  const columnNames = o.columns.map((column) => column.name);
  reportDuplicates(columnNames, [...at, 'columns'], 'name', 'column', c);
  o.columns.forEach((column, index) => {
    checkColumn(column, [...at, 'columns', index], c);
  });
  const constraints = o.constraints ?? [];
  reportDuplicates(
    constraints.map((constraint) => constraint.name),
    [...at, 'constraints'],
    'name',
    'constraint',
    c,
  );
  const newTable = { name: `table "${o.name}"`, columns: columnNames };
  constraints.forEach((constraint, index) => {
    const path = [...at, 'constraints', index];
    c.memberOf([...path, 'columns'], constraint.columns, columnNames, newTable.name);
    c.expression([...path, 'check'], constraint.check);
    const parameters = constraint.index_parameters;
    checkIndexParameters(parameters, [...path, 'index_parameters'], newTable, c);
    checkReferences(constraint.references, constraint.columns, [...path, 'references'], c);
    const exclude = constraint.exclude;
    if (exclude) {
      const method = exclude.index_method;
      if (
        method !== undefined &&
        !indexMethodSchema.options.some((m) => m === method.toLowerCase())
      ) {
        c.problem(
          [...path, 'exclude', 'index_method'],
          `expected one of ${indexMethodSchema.options.join(', ')}, got "${method}"`,
        );
      }
      if (exclude.elements === undefined) {
        c.problem([...path, 'exclude', 'elements'], 'required field missing');
      }
      c.sql(
        [...path, 'exclude', 'elements'],
        exclude.elements,
        checkExcludeElements,
        'valid exclusion elements',
      );
      c.expression([...path, 'exclude', 'predicate'], exclude.predicate);
    }
  });
}

function checkCreateConstraint(o: CreateConstraint, at: Path, c: Checks): void {
  c.expression([...at, 'check'], o.check);
  reportDuplicates(o.columns ?? [], [...at, 'columns'], undefined, 'column', c);
  checkColumnExpressions(o.up, o.columns ?? [], [...at, 'up'], c);
  checkColumnExpressions(o.down, o.columns ?? [], [...at, 'down'], c);
  checkIndexParameters(o.index_parameters, [...at, 'index_parameters'], undefined, c);
  checkReferences(o.references, o.columns, [...at, 'references'], c);
}

/**
 * The expressions of `up`/`down` maps. When the rewritten columns are known, every one of them
 * needs an expression and no other column may have one.
 */
function checkColumnExpressions(
  expressions: Record<string, string> | undefined,
  columns: readonly string[] | undefined,
  at: Path,
  c: Checks,
): void {
  if (!expressions) return;
  for (const column of columns ?? []) {
    if (!Object.hasOwn(expressions, column)) {
      c.problem(at, `missing an expression for column "${column}"`);
    }
  }
  for (const [column, expression] of Object.entries(expressions)) {
    const problem = identifierProblem(column);
    if (problem) c.problem([...at, column], `column name ${problem}`);
    else if (columns && !columns.includes(column)) {
      c.problem([...at, column], `column "${column}" is not one of the constraint's columns`);
    }
    c.expression([...at, column], expression);
  }
}

/** `table`, when given, is the table being created, whose columns `include_columns` must name. */
function checkIndexParameters(
  parameters: IndexParameters | undefined,
  at: Path,
  table: { name: string; columns: readonly string[] } | undefined,
  c: Checks,
): void {
  if (!parameters) return;
  c.storageParameters([...at, 'storage_parameters'], parameters.storage_parameters);
  if (table) {
    c.memberOf([...at, 'include_columns'], parameters.include_columns, table.columns, table.name);
  }
}

function checkReferences(
  references: TableForeignKeyReference | undefined,
  columns: readonly string[] | undefined,
  at: Path,
  c: Checks,
): void {
  if (!references) return;
  const count = columns?.length ?? 0;
  if (references.columns.length !== count) {
    c.problem(
      [...at, 'columns'],
      `${references.columns.length} referenced columns for ${count} constrained columns: the counts must match`,
    );
  }
  const setColumns = references.on_delete_set_columns;
  if (setColumns && setColumns.length > 0) {
    if (references.on_delete !== 'SET NULL' && references.on_delete !== 'SET DEFAULT') {
      c.problem(
        [...at, 'on_delete_set_columns'],
        'only used with on_delete SET NULL or SET DEFAULT',
      );
    }
    c.memberOf(
      [...at, 'on_delete_set_columns'],
      setColumns,
      columns ?? [],
      "the constraint's columns",
    );
  }
}

/** Reports each repeated name at its later occurrence, naming the first. */
function reportDuplicates(
  names: readonly string[],
  at: Path,
  field: string | undefined,
  what: string,
  c: Checks,
): void {
  const first = new Map<string, number>();
  names.forEach((name, index) => {
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, index);
    else {
      const path = field === undefined ? [...at, index] : [...at, index, field];
      c.problem(path, `duplicate ${what} "${name}" (also at index ${earlier})`);
    }
  });
}
