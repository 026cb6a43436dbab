/**
 * `tidal lint`: plain SQL migrations read with PostgreSQL's own grammar (libpg-query), statement
 * by statement, including the statements of DO blocks and PL/pgSQL or SQL function bodies, and
 * checked against the rules in rules.ts. `-- tidal-lint-ignore RULE[, RULE]` in the comments
 * before a statement suppresses those rules for it.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Node,
  parsePlPgSQLSync,
  parseSync,
  scanSync,
  type VariableSetStmt,
} from 'libpg-query';
import { InputError, messageOf } from '../errors.js';
import { initSqlParser } from '../migration/sql-text.js';
import {
  type LintContext,
  type LintLevel,
  type LintRule,
  type LintStatement,
  RULES,
  strongLockTable,
  tableName,
} from './rules.js';
import { tidalMigration } from './suggest.js';

export interface LintFinding {
  file: string;
  line: number;
  column: number;
  rule: string;
  level: LintLevel;
  /** The table the statement concerns, when known. */
  table: string;
  message: string;
  /** The same change as a tidal migration (YAML), where the statement says enough to write it. */
  tidalMigration: string | null;
}

const IGNORE = /tidal-lint-ignore\s+([\w-]+(?:\s*,\s*[\w-]+)*)/g;

/** Lints the `.sql` files of each path (a file, or a folder searched recursively), in order. */
export async function lintPaths(
  paths: string[],
): Promise<{ files: string[]; findings: LintFinding[] }> {
  await initSqlParser();
  const files: string[] = [];
  for (const path of paths) files.push(...(await sqlFiles(path)));
  const findings: LintFinding[] = [];
  for (const file of files) findings.push(...lintText(await readFile(file, 'utf8'), file));
  return { files, findings };
}

async function sqlFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch((error: Error) => {
    throw new InputError(`${path}: ${error.message}`);
  });
  if (info.isFile()) return [path];
  const found: string[] = [];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  for (const entry of entries) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) found.push(...(await sqlFiles(full)));
    else if (entry.name.endsWith('.sql')) found.push(full);
  }
  return found;
}

/** The findings of one file's text. Throws InputError naming the line of a syntax error. */
export function lintText(text: string, file: string): LintFinding[] {
  const bytes = Buffer.from(text, 'utf8');
  const position = (byte: number) => {
    const before = bytes.subarray(0, byte).toString('utf8');
    const lines = before.split('\n');
    return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
  };
  let parsed: ReturnType<typeof parseSync>;
  try {
    parsed = parseSync(text);
  } catch (error) {
    const at = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
    const where =
      at === undefined
        ? ''
        : `:${Object.values(position(Buffer.byteLength(text.slice(0, at)))).join(':')}`;
    throw new InputError(`${file}${where}: ${messageOf(error)}`);
  }
  const tokens = scanSync(text).tokens;
  const context: LintContext = {
    inTransaction: false,
    lockTimeoutSet: false,
    createdTables: new Set(),
    strongLocks: new Set(),
  };
  const findings: LintFinding[] = [];
  /** Rules reported once per file already reported. */
  const reported = new Set<string>();

  // A statement starts at its first token; the comments before it run from the end of the
  // statement before.
  let previousEnd = 0;
  for (const raw of parsed.stmts ?? []) {
    const start = raw.stmt_location ?? 0;
    const end = start + (raw.stmt_len ?? bytes.length - start);
    const before = tokens.filter((t) => t.start >= previousEnd && t.end <= start);
    previousEnd = end;
    if (!raw.stmt) continue;
    const ignored = new Set<string>();
    for (const t of before)
      for (const match of t.text.matchAll(IGNORE))
        for (const rule of (match[1] ?? '').split(',')) ignored.add(rule.trim());
    const at = position(start);
    const statements: LintStatement[] = [{ node: raw.stmt, ...at, inBody: false }];
    for (const inner of bodyStatements(raw.stmt))
      statements.push({ node: inner, ...at, inBody: true });

    for (const statement of statements) {
      const ctx = statement.inBody ? { ...context, inTransaction: true } : context;
      for (const rule of RULES) {
        if (ignored.has(rule.id)) continue;
        const table = rule.check(statement, ctx);
        if (table === null) continue;
        if (rule.oncePerFile) {
          if (reported.has(rule.id)) continue;
          reported.add(rule.id);
        }
        findings.push({
          file,
          line: statement.line,
          column: statement.column,
          rule: rule.id,
          level: rule.level,
          table,
          message: describe(rule, table, statement.inBody),
          tidalMigration: rule.withMigration ? tidalMigration(statement.node) : null,
        });
      }
      track(statement);
    }
  }
  return findings;

  /** What a statement changes in what the next ones see. */
  function track(statement: LintStatement): void {
    const n = statement.node;
    // A DO block or function runs inside the transaction it is called in: its own transaction
    // statements (in a procedure) do not end the file's.
    if ('TransactionStmt' in n && !statement.inBody) {
      const kind = n.TransactionStmt.kind;
      if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') context.inTransaction = true;
      if (kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK') {
        context.inTransaction = false;
        context.strongLocks.clear();
      }
    }
    if ('VariableSetStmt' in n && n.VariableSetStmt.name === 'lock_timeout')
      context.lockTimeoutSet = setsLockTimeout(n.VariableSetStmt);
    if ('CreateStmt' in n && n.CreateStmt.relation?.relname)
      context.createdTables.add(tableName(n.CreateStmt.relation));
    if (context.inTransaction) {
      const locked = strongLockTable(statement, context);
      if (locked !== null) context.strongLocks.add(locked);
    }
  }
}

function describe(rule: LintRule, table: string, inBody: boolean): string {
  const on = table ? ` on "${table}"` : '';
  const lock = rule.lock ? `takes ${rule.lock}${on}: ` : table ? `"${table}": ` : '';
  return [
    `${rule.title}${inBody ? ' (inside a DO block or function)' : ''}: ${lock}${rule.effect}.`,
    `Instead: ${rule.safe}.`,
    rule.tidal ? `With tidal: ${rule.tidal}.` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** The SQL statements of a DO block or a function body, where PostgreSQL's parsers reach. */
function bodyStatements(node: Node): Node[] {
  let body: string | undefined;
  let language = 'plpgsql';
  const options =
    'DoStmt' in node
      ? node.DoStmt.args
      : 'CreateFunctionStmt' in node
        ? node.CreateFunctionStmt.options
        : undefined;
  for (const option of options ?? []) {
    if (!('DefElem' in option)) continue;
    const { defname, arg } = option.DefElem;
    if (defname === 'language' && arg && 'String' in arg) language = arg.String.sval ?? language;
    if (defname === 'as' && arg) {
      if ('String' in arg) body = arg.String.sval;
      else if ('List' in arg) {
        const first = arg.List.items?.[0];
        body = first && 'String' in first ? first.String.sval : undefined;
      }
    }
  }
  if (body === undefined) return [];
  try {
    if (language === 'sql')
      return (parseSync(body).stmts ?? []).flatMap((s) => (s.stmt ? [s.stmt] : []));
    if (language !== 'plpgsql') return [];
    let tag = '$_tidal_lint$';
    for (let i = 0; body.includes(tag); i++) tag = `$_tidal_lint${i}$`;
    const tree = parsePlPgSQLSync(
      `CREATE FUNCTION _tidal_lint() RETURNS void AS ${tag}${body}${tag} LANGUAGE plpgsql`,
    );
    const queries: string[] = [];
    collectQueries(tree, queries);
    return queries.flatMap((q) => {
      try {
        return (parseSync(q).stmts ?? []).flatMap((s) => (s.stmt ? [s.stmt] : []));
      } catch {
        return [];
      }
    });
  } catch {
    // A body the parsers cannot read is left to PostgreSQL; the statement itself was linted.
    return [];
  }
}

/** The SQL of every PL/pgSQL statement that runs one (`PLpgSQL_stmt_execsql`). */
function collectQueries(node: unknown, into: string[]): void {
  if (node === null || typeof node !== 'object') return;
  if ('PLpgSQL_stmt_execsql' in node) {
    const query = (
      node as { PLpgSQL_stmt_execsql: { sqlstmt?: { PLpgSQL_expr?: { query?: string } } } }
    ).PLpgSQL_stmt_execsql.sqlstmt?.PLpgSQL_expr?.query;
    if (query) into.push(query);
  }
  for (const value of Object.values(node)) collectQueries(value, into);
}

/** `SET [LOCAL] lock_timeout = <more than 0>`; 0, DEFAULT and RESET leave it unset. */
function setsLockTimeout(set: VariableSetStmt): boolean {
  const arg = set.args?.[0];
  if (set.kind !== 'VAR_SET_VALUE' || !arg || !('A_Const' in arg)) return false;
  const value = arg.A_Const;
  if (value.sval) return !/^\s*0\s*(us|ms|s|min)?\s*$/.test(value.sval.sval ?? '');
  return (value.ival?.ival ?? 0) > 0;
}
