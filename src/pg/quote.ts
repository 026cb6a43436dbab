/** Quoting of identifiers and literals for SQL text tidal builds. */

/** Quotes an identifier: `my "table"` becomes `"my ""table"""`. */
export function ident(name: string): string {
  if (name.includes('\0'))
    throw new Error(`identifier contains a NUL byte: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a schema-qualified name: a table, index, function or type in `schema`. */
export function qualifiedName(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

/** Quotes a string literal, using the E'' form when it holds backslashes. */
export function literal(value: string): string {
  if (value.includes('\0'))
    throw new Error(`literal contains a NUL byte: ${JSON.stringify(value)}`);
  const body = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${body.replaceAll('\\', '\\\\')}'` : `'${body}'`;
}

/** Dollar-quotes `body` (a function or DO body) with a tag that does not occur in it, so text
 *  from a migration file (an `up` expression holding `$tidal$`, say) cannot end the quote. */
export function dollarQuoted(body: string, name = 'tidal'): string {
  let tag = `$${name}$`;
  for (let i = 0; body.includes(tag); i++) tag = `$${name}${i}$`;
  return `${tag}${body}${tag}`;
}

/** PostgreSQL truncates identifiers longer than this many bytes. */
export const MAX_IDENTIFIER_BYTES = 63;
