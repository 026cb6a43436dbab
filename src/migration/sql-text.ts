/**
 * Offline checks of SQL text with PostgreSQL's own parser (libpg-query, WASM).
 *
 * Fragments from migration files (expressions, type names, storage parameters) are checked by
 * parsing them inside a template statement, the way the engine will embed them, and by making sure
 * they cannot close the template's parenthesis or end its statement.
 */
import {
  hasSqlDetails,
  loadModule,
  type Node,
  type ParseResult,
  parseSync,
  type ScanToken,
  scanSync,
} from 'libpg-query';
import { InputError, messageOf } from '../errors.js';

let loading: Promise<void> | undefined;
let loaded = false;

/** Loads the parser. Call once at start-up; later calls return the same promise. */
export function initSqlParser(): Promise<void> {
  loading ??= loadModule().then(() => {
    loaded = true;
  });
  return loading;
}

/** A parse failure: the parser's message and a 0-based code point index into the parsed text. */
interface SyntaxProblem {
  message: string;
  index: number | undefined;
}

function tryParse(sql: string): ParseResult | SyntaxProblem {
  if (!loaded) {
    throw new Error('the SQL parser is not loaded: await initSqlParser() before checking SQL');
  }
  try {
    return parseSync(sql);
  } catch (error) {
    if (hasSqlDetails(error) && error.sqlDetails) {
      return { message: error.sqlDetails.message, index: error.sqlDetails.cursorPosition };
    }
    return { message: messageOf(error), index: undefined };
  }
}

/** `line L, column C` when the text spans lines, else `position N` (1-based, in characters). */
function describePosition(text: string, index: number): string {
  const chars = Array.from(text);
  if (index >= chars.length) return 'at the end';
  if (!text.includes('\n')) return `position ${index + 1}`;
  const before = chars.slice(0, index);
  const line = before.filter((c) => c === '\n').length + 1;
  const column = index - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/** The parser's message with where it happened in `text`, which starts at `offset` of what was parsed. */
function withPosition(problem: SyntaxProblem, text: string, offset: number): string {
  if (problem.index === undefined || problem.index < offset) return problem.message;
  const where = describePosition(text, problem.index - offset);
  if (where !== 'at the end') return `${problem.message} (${where})`;
  // Past the end of a fragment the parser names the template's own text, which would confuse.
  if (offset > 0 && problem.message.startsWith('syntax error at or near')) {
    return 'syntax error at end of input';
  }
  return problem.message.includes('end of input')
    ? problem.message
    : `${problem.message} (${where})`;
}

function noNul(text: string): string | undefined {
  // The parser reads a C string: text after a NUL would be silently ignored.
  return text.includes('\0') ? 'contains a NUL character' : undefined;
}

/**
 * The statements of a multi-statement SQL text, trimmed, without their terminating `;`, empty
 * statements dropped. Throws InputError on a syntax error, naming where it is.
 */
export function splitStatements(sql: string): string[] {
  const result = trySplitStatements(sql);
  if (typeof result === 'string') throw new InputError(result);
  return result;
}

/** splitStatements returning the problem instead of throwing. */
export function trySplitStatements(sql: string): string[] | string {
  const parsed = tryParseStatements(sql);
  return typeof parsed === 'string' ? parsed : parsed.map((statement) => statement.text);
}

export interface ParsedStatement {
  /** The statement's text, trimmed, without its terminating `;`. */
  text: string;
  /** Its parse tree. */
  node: Node;
}

/** The statements of a SQL text with their parse trees, or what is wrong with the text. */
export function tryParseStatements(sql: string): ParsedStatement[] | string {
  const nul = noNul(sql);
  if (nul) return nul;
  if (sql.trim() === '') return [];
  const tree = tryParse(sql);
  if ('message' in tree) return withPosition(tree, sql, 0);
  // stmt_location and stmt_len count bytes of UTF-8, not UTF-16 code units.
  const bytes = Buffer.from(sql, 'utf8');
  const statements: ParsedStatement[] = [];
  for (const raw of tree.stmts ?? []) {
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
    const text = bytes.subarray(start, end).toString('utf8').trim();
    if (text !== '' && raw.stmt) statements.push({ text, node: raw.stmt });
  }
  return statements;
}

/**
 * Whether a statement must run outside a transaction block: CREATE/DROP/REINDEX ... CONCURRENTLY,
 * VACUUM, DETACH PARTITION CONCURRENTLY, database and tablespace commands... Errs towards true,
 * since any statement may run outside one. False for text that does not parse.
 */
export function statementNeedsNoTransaction(statement: string): boolean {
  const parsed = tryParseStatements(statement);
  return typeof parsed !== 'string' && parsed.some(({ node }) => needsNoTransaction(node));
}

function needsNoTransaction(node: Node): boolean {
  if ('IndexStmt' in node) return node.IndexStmt.concurrent === true;
  if ('DropStmt' in node) return node.DropStmt.concurrent === true;
  if ('ReindexStmt' in node) {
    return (node.ReindexStmt.params ?? []).some(
      (param) => 'DefElem' in param && param.DefElem.defname === 'concurrently',
    );
  }
  if ('VacuumStmt' in node) return node.VacuumStmt.is_vacuumcmd === true;
  if ('ClusterStmt' in node) return node.ClusterStmt.relation === undefined;
  if ('AlterTableStmt' in node) {
    return (node.AlterTableStmt.cmds ?? []).some(
      (cmd) =>
        'AlterTableCmd' in cmd &&
        cmd.AlterTableCmd.def !== undefined &&
        'PartitionCmd' in cmd.AlterTableCmd.def &&
        cmd.AlterTableCmd.def.PartitionCmd.concurrent === true,
    );
  }
  return [
    'AlterEnumStmt', // a value added inside a transaction is unusable until it commits
    'AlterSystemStmt',
    'CreatedbStmt',
    'DropdbStmt',
    'CreateTableSpaceStmt',
    'DropTableSpaceStmt',
    'CreateSubscriptionStmt',
    'AlterSubscriptionStmt',
    'DropSubscriptionStmt',
    'TransactionStmt',
  ].some((kind) => kind in node);
}

/** How a fragment is embedded for checking, and what the parse must look like. */
interface Template {
  /** Text before the fragment; ends with a newline so the fragment's positions are its own. */
  prefix: string;
  /** Text after the fragment; starts with a newline so a trailing `--` comment cannot eat it. */
  suffix: string;
  /** What the fragment is, for messages. */
  what: string;
  /** Whether the single parsed statement has the shape the template gives it. */
  accepts(stmt: Node): boolean;
}

/**
 * Parses `fragment` inside `template`. Returns undefined when it is valid, else what is wrong,
 * with a position relative to the fragment.
 */
function checkFragment(fragment: string, template: Template): string | undefined {
  const nul = noNul(fragment);
  if (nul) return nul;
  if (fragment.trim() === '') return 'is empty';
  const text = template.prefix + fragment + template.suffix;
  const prefixChars = Array.from(template.prefix).length;
  const parsed = tryParse(text);
  // Checked even when the parse failed: "has a ')' without a matching '('" says more than
  // the syntax error the parser reports further on. Without any of these characters the
  // fragment has none of these tokens, and needs no scan.
  const breakout = /[;()]/.test(fragment)
    ? findEscape(text, Buffer.byteLength(template.prefix), Buffer.byteLength(fragment))
    : undefined;
  if (breakout) {
    const { message, index } = breakout;
    return index === undefined ? message : `${message} (${describePosition(fragment, index)})`;
  }
  if ('message' in parsed) return withPosition(parsed, fragment, prefixChars);
  const stmts = parsed.stmts ?? [];
  const only = stmts[0]?.stmt;
  if (stmts.length !== 1 || only === undefined || !template.accepts(only)) {
    return `is not a single ${template.what}`;
  }
  return undefined;
}

/**
 * A `;` or a `)` without its `(` inside the fragment: either would let the fragment end the
 * statement or the parenthesis the engine wraps it in, and smuggle in SQL of its own.
 */
function findEscape(
  text: string,
  fragmentStart: number,
  fragmentBytes: number,
): { message: string; index: number | undefined } | undefined {
  const bytes = Buffer.from(text, 'utf8');
  const fragmentEnd = fragmentStart + fragmentBytes;
  // Tokens are located in bytes; positions are reported in characters, as PostgreSQL does.
  const charIndex = (byte: number) =>
    Array.from(bytes.subarray(fragmentStart, byte).toString('utf8')).length;
  let tokens: ScanToken[];
  try {
    tokens = scanSync(text).tokens;
  } catch {
    return undefined; // not even tokenizable: the parse error says why
  }
  let depth = 0;
  for (const token of tokens) {
    if (token.start < fragmentStart || token.start >= fragmentEnd) continue;
    if (token.text === ';') {
      return { message: 'has a ";", which would end the statement', index: charIndex(token.start) };
    }
    if (token.text === '(') depth++;
    if (token.text === ')' && --depth < 0) {
      return { message: 'has a ")" without a matching "("', index: charIndex(token.start) };
    }
  }
  if (depth !== 0) return { message: 'has a "(" without a matching ")"', index: undefined };
  return undefined;
}

/** The expression of `SELECT <expression>` and nothing more (no FROM, alias, UNION...). */
function onlySelectedValue(stmt: Node): Node | undefined {
  if (!('SelectStmt' in stmt)) return undefined;
  const { targetList, limitOption, op, ...rest } = stmt.SelectStmt;
  const target = targetList?.length === 1 ? targetList[0] : undefined;
  const plain =
    Object.keys(rest).length === 0 &&
    (op === undefined || op === 'SETOP_NONE') &&
    (limitOption === undefined || limitOption === 'LIMIT_OPTION_DEFAULT');
  if (!plain || target === undefined || !('ResTarget' in target)) return undefined;
  const { name, indirection, val } = target.ResTarget;
  return name === undefined && indirection === undefined ? val : undefined;
}

const expressionTemplate: Template = {
  what: 'expression',
  prefix: 'SELECT (\n',
  suffix: '\n)',
  accepts: (stmt) => onlySelectedValue(stmt) !== undefined,
};

/**
 * Checks a SQL expression (`up`, `down`, `default`, a check constraint, an index predicate).
 * A whole `SELECT ...` is accepted too: in parentheses it is a scalar subquery.
 * Returns what is wrong, or undefined when the expression is valid.
 */
export function checkExpression(expr: string): string | undefined {
  return checkFragment(expr, expressionTemplate);
}

const typeNameTemplate: Template = {
  what: 'type name',
  prefix: 'SELECT CAST(NULL AS\n',
  suffix: '\n)',
  accepts: (stmt) => 'TypeCast' in (onlySelectedValue(stmt) ?? {}),
};

/** Checks a column type such as `varchar(255)`, `time with time zone` or `int[]`. */
export function checkTypeName(type: string): string | undefined {
  return checkFragment(type, typeNameTemplate);
}

const storageParametersTemplate: Template = {
  what: 'list of storage parameters',
  prefix: 'CREATE INDEX i ON t (c) WITH (\n',
  suffix: '\n)',
  accepts: (stmt) => 'IndexStmt' in stmt,
};

/** Checks storage parameters such as `fillfactor = 70, deduplicate_items = off`. */
export function checkStorageParameters(parameters: string): string | undefined {
  return checkFragment(parameters, storageParametersTemplate);
}

const sequenceOptionsTemplate: Template = {
  what: 'list of sequence options',
  prefix: 'CREATE TABLE t (c bigint GENERATED ALWAYS AS IDENTITY (\n',
  suffix: '\n))',
  accepts: (stmt) => 'CreateStmt' in stmt,
};

/** Checks identity sequence options such as `START 100 INCREMENT 10`. */
export function checkSequenceOptions(options: string): string | undefined {
  return checkFragment(options, sequenceOptionsTemplate);
}

const excludeElementsTemplate: Template = {
  what: 'list of exclusion elements',
  prefix: 'ALTER TABLE t ADD EXCLUDE (\n',
  suffix: '\n)',
  accepts: (stmt) => 'AlterTableStmt' in stmt,
};

/** Checks the elements of an exclusion constraint such as `room WITH =, during WITH &&`. */
export function checkExcludeElements(elements: string): string | undefined {
  return checkFragment(elements, excludeElementsTemplate);
}
