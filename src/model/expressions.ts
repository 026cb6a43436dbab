import { scanSync } from 'libpg-query';
import { initSqlParser } from '../migration/sql-text.js';
import { ident } from '../pg/quote.js';

/** The name an identifier token stands for: quoted as written, unquoted folded to lower case. */
function identifierValue(text: string): string {
  if (text.startsWith('"')) return text.slice(1, -1).replaceAll('""', '"');
  return text.toLowerCase();
}

/**
 * Rewrites references to `column` in a constraint expression to `to`, token by token with
 * PostgreSQL's own scanner (strings, comments and function names stay as they are). Used for a
 * check on a column that lives under a temporary name until complete; check constraints hold
 * no subqueries, so every such identifier names the table's column.
 */
export async function renameColumnInExpression(
  expression: string,
  column: string,
  to: string,
): Promise<string> {
  const bytes = Buffer.from(expression);
  const parts: Buffer[] = [];
  let at = 0;
  for (const token of await columnTokens(expression, column)) {
    parts.push(bytes.subarray(at, token.start), Buffer.from(ident(to)));
    at = token.end;
  }
  parts.push(bytes.subarray(at));
  return Buffer.concat(parts).toString();
}

type Token = ReturnType<typeof scanSync>['tokens'][number];

/** Whether a token can name a column: an identifier, or a keyword that is not reserved. */
function isNameToken(token: Token): boolean {
  return token.tokenName === 'IDENT' || (token.keywordKind > 0 && token.keywordKind < 4);
}

/** The names SQL text may refer to columns by: its identifiers and non-reserved keywords. */
export async function identifiersIn(sql: string): Promise<Set<string>> {
  await initSqlParser();
  return new Set(
    scanSync(sql)
      .tokens.filter(isNameToken)
      .map((t) => identifierValue(t.text)),
  );
}

/** Whether SQL text names something of schema `schema` by its name (`schema.name`). */
export async function qualifiesWith(sql: string, schema: string): Promise<boolean> {
  await initSqlParser();
  const tokens = scanSync(sql).tokens;
  return tokens.some(
    (token, i) =>
      isNameToken(token) && identifierValue(token.text) === schema && tokens[i + 1]?.text === '.',
  );
}

/** Whether SQL text refers to `column` (as an identifier that is not a function name). */
export async function mentionsColumn(sql: string, column: string): Promise<boolean> {
  return (await columnTokens(sql, column)).length > 0;
}

/** The tokens of `sql` that name `column`: identifiers and non-reserved keywords with its name,
 *  not followed by `(` (a function call). Offsets are in bytes. */
async function columnTokens(
  sql: string,
  column: string,
): Promise<{ start: number; end: number }[]> {
  await initSqlParser();
  const tokens = scanSync(sql).tokens;
  return tokens.filter(
    (token, i) => namesColumn(tokens, i) && identifierValue(token.text) === column,
  );
}

/** Whether token `i` can name a column: a name not followed by `(` (a function call). */
function namesColumn(tokens: readonly Token[], i: number): boolean {
  const token = tokens[i];
  return token !== undefined && isNameToken(token) && tokens[i + 1]?.text !== '(';
}

/** The columns of `columns` that `expression` names (not as a function), in their order: what
 *  PostgreSQL records as the columns of a check or an exclusion constraint. */
export async function columnsNamedIn<T extends { name: string }>(
  columns: readonly T[],
  expression: string,
): Promise<T[]> {
  await initSqlParser();
  const tokens = scanSync(expression).tokens;
  const named = new Set(
    tokens.filter((_, i) => namesColumn(tokens, i)).map((t) => identifierValue(t.text)),
  );
  return columns.filter((c) => named.has(c.name));
}

/** Whether an expression is just the column `column`, bare or quoted (an identity `up`); a
 *  column named like a non-reserved keyword (`name`, `comment`, `type`) is written bare too. */
export async function isColumnItself(expression: string, column: string): Promise<boolean> {
  await initSqlParser();
  const tokens = scanSync(expression).tokens;
  const [only] = tokens;
  return (
    tokens.length === 1 &&
    only !== undefined &&
    isNameToken(only) &&
    identifierValue(only.text) === column
  );
}

/** An expression from a migration file, ready to embed in a statement: in parentheses, with the
 *  closing one on its own line so a trailing `-- comment` cannot swallow what follows. */
export function parenthesize(expression: string): string {
  return `(${expression}\n)`;
}

/**
 * An expression from a migration file evaluated, inside an UPDATE of `target` (the UPDATE's
 * alias), over the current row with its columns under a version's names: a scalar subquery
 * over a one-row derived table named `alias`, so `expression` may say `alias.column` too.
 */
export function expressionOverRow(
  expression: string,
  target: string,
  columns: { name: string; physical: string }[],
  alias: string,
): string {
  const row = columns.map((c) => `${ident(target)}.${ident(c.physical)} AS ${ident(c.name)}`);
  return `(SELECT ${parenthesize(expression)} FROM (SELECT ${row.join(', ')}) AS ${ident(alias)})`;
}
