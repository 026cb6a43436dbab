/**
 * An expression tidal could not write for the user: `tidal lint` and `tidal convert` put one
 * where the SQL they read does not say what `up`, `down` or a default must be (the value of a
 * new NOT NULL column for the rows already there, say). It says what is needed, and a file
 * holding one is refused, at that field, until it is written.
 */
const PREFIX = 'TODO(tidal):';

/** The placeholder asking for `what`. */
export function unwrittenExpression(what: string): string {
  return `${PREFIX} ${what}`;
}

/** What a placeholder asks for, or undefined when `text` is not one. */
export function unwrittenRequest(text: string): string | undefined {
  const trimmed = text.trimStart();
  return trimmed.startsWith(PREFIX) ? trimmed.slice(PREFIX.length).trim() : undefined;
}
