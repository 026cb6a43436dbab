/**
 * Reading PostgreSQL parse trees (libpg-query's) back into what a migration file says: names,
 * type names as people write them, and expressions as SQL text (pgsql-deparser).
 */
import { type Node, parseSync, type RangeVar, type TypeName } from 'libpg-query';
import { deparseSync, QuoteUtils } from 'pgsql-deparser';

/** A table as the statement names it: `schema.table`, or `table`. */
export const relationName = (r: RangeVar | undefined): string => r?.relname ?? '';

/** The strings of a list of String nodes (a qualified name, a column list). */
export function strings(nodes: Node[] | undefined): string[] {
  return (nodes ?? []).flatMap((n) =>
    'String' in n && n.String.sval !== undefined ? [n.String.sval] : [],
  );
}

/** Internal type names as people write them. */
const TYPE_NAMES: Record<string, string> = {
  int2: 'smallint',
  int4: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  bool: 'boolean',
  bpchar: 'char',
  timestamptz: 'timestamptz',
};

/** A type name as it would be written in a column definition: `varchar(255)`, `bigint[]`. */
export function typeText(t: TypeName | undefined): string {
  const name = strings(t?.names).at(-1) ?? 'text';
  const modifiers = (t?.typmods ?? []).flatMap((m) =>
    'A_Const' in m && m.A_Const.ival ? [String(m.A_Const.ival.ival ?? 0)] : [],
  );
  const arrays = '[]'.repeat(t?.arrayBounds?.length ?? 0);
  const schema = (t?.names?.length ?? 0) > 1 ? strings(t?.names)[0] : undefined;
  const qualified = schema && schema !== 'pg_catalog' ? `${schema}.${name}` : name;
  return `${TYPE_NAMES[qualified] ?? qualified}${modifiers.length > 0 ? `(${modifiers.join(', ')})` : ''}${arrays}`;
}

/** A column name as SQL, quoted only where it must be (so a file stays easy to read). */
export function columnSql(name: string): string {
  return QuoteUtils.quoteIdentifier(name);
}

/** An expression's SQL text, on one line. */
export function expressionText(node: Node): string {
  return deparseSync(node as Parameters<typeof deparseSync>[0], { pretty: false }).trim();
}

/** A whole statement's SQL text, on one line, from its parse tree. */
export const statementText = expressionText;

/** The last name of a column reference (`t.col` -> `col`), or undefined when `node` is not one. */
export function columnRefName(node: Node | undefined): string | undefined {
  if (!node || !('ColumnRef' in node)) return undefined;
  return strings(node.ColumnRef.fields).at(-1);
}

/** Every column a expression refers to, by its last name, in order of first use. */
export function referencedColumns(node: unknown, into = new Set<string>()): string[] {
  if (node === null || typeof node !== 'object') return [...into];
  if ('ColumnRef' in node) {
    const name = columnRefName(node as Node);
    if (name) into.add(name);
  }
  for (const value of Object.values(node)) referencedColumns(value, into);
  return [...into];
}

/**
 * `expression` with its references to column `from` made to `to` (the same expression when it
 * does not parse: it is left for the loader to report).
 */
export function withColumnRenamed(expression: string, from: string, to: string): string {
  let value: Node | undefined;
  try {
    const [statement] = parseSync(`SELECT ${expression}`).stmts ?? [];
    const select =
      statement?.stmt && 'SelectStmt' in statement.stmt ? statement.stmt.SelectStmt : undefined;
    const [target] = select?.targetList ?? [];
    value = target && 'ResTarget' in target ? target.ResTarget.val : undefined;
  } catch {
    return expression;
  }
  if (!value) return expression;
  const rename = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    if ('ColumnRef' in node) {
      const fields = (node as { ColumnRef: { fields?: Node[] } }).ColumnRef.fields ?? [];
      const last = fields.at(-1);
      if (fields.length === 1 && last && 'String' in last && last.String.sval === from) {
        last.String.sval = to;
      }
    }
    for (const child of Object.values(node)) rename(child);
  };
  rename(value);
  return expressionText(value);
}
