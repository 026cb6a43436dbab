/**
 * The offline checks several operation kinds share, and Checks, which gathers their problems.
 * They need no database: they look at the SQL text of expressions and at rules that span fields.
 */
import type { z } from 'zod';
import type { Column, IndexParameters, TableForeignKeyReference } from './fields.js';
import { identifierProblem } from './fields.js';
import type { Path, Problem } from './problems.js';
import {
  checkExpression,
  checkSequenceOptions,
  checkStorageParameters,
  checkTypeName,
  tryParseStatements,
} from './sql-text.js';
import { unwrittenRequest } from './unwritten.js';

/** An operation kind's offline check of its options, found at `at` in the file. */
export type OfflineCheck<Options> = (options: Options, at: Path, c: Checks) => void;

/** One operation kind in the file format: the schema of its options and their offline check. */
export interface OperationFormat<Schema extends z.ZodType> {
  schema: Schema;
  check: OfflineCheck<z.output<Schema>>;
}

export class Checks {
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
    const request = text === undefined ? undefined : unwrittenRequest(text);
    if (request !== undefined) {
      this.problem(path, `left for you to write: ${request}`);
      return;
    }
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

export function checkColumn(column: Column, at: Path, c: Checks): void {
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

/** rename_table, rename_column and rename_constraint: renaming to the same name does nothing. */
export function checkRenamed(from: string, to: string, at: Path, c: Checks): void {
  if (from === to) c.problem([...at, 'to'], `the same as "from" ("${from}"): nothing to rename`);
}

/**
 * The expressions of `up`/`down` maps. When the rewritten columns are known, every one of them
 * needs an expression and no other column may have one.
 */
export function checkColumnExpressions(
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
export function checkIndexParameters(
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

export function checkReferences(
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
export function reportDuplicates(
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
