import { createHash } from 'node:crypto';
import { MAX_IDENTIFIER_BYTES } from '../pg/quote.js';

/** Every object tidal adds to an application table starts with this prefix. */
export const TIDAL_PREFIX = '_tidal_';

/** Column that marks rows the backfill still has to visit: true until then. The backfill sets it
 *  to NULL, a write by either application version to false; verification compares only the
 *  rows the backfill filled (NULL) with `up`. */
export const NEEDS_BACKFILL_COLUMN = '_tidal_needs_backfill';

/** The dual-write trigger tidal puts on each table a migration changes. PostgreSQL fires a
 *  table's triggers in name order (byte order), and `~` sorts after letters, digits and `_`: it
 *  fires after the application's own BEFORE triggers, so `up` and `down` see the row as they
 *  left it. */
export const SYNC_TRIGGER = '~tidal_sync';

/** A name made of a prefix and a user's name, kept within PostgreSQL's 63-byte limit: long
 *  names are cut and made unique again with a hash, since PostgreSQL would silently truncate. */
export function prefixedName(prefix: string, name: string): string {
  const full = `${prefix}${name}`;
  if (Buffer.byteLength(full) <= MAX_IDENTIFIER_BYTES) return full;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  let cut = name;
  while (Buffer.byteLength(`${prefix}${cut}_${hash}`) > MAX_IDENTIFIER_BYTES)
    cut = cut.slice(0, -1);
  return `${prefix}${cut}_${hash}`;
}

/** The physical name of a column added by a migration until complete renames it. */
export function newColumnName(column: string): string {
  return prefixedName('_tidal_new_', column);
}

/** The NOT VALID check that stands in for NOT NULL until complete. */
export function notNullCheckName(column: string): string {
  return prefixedName('_tidal_nn_', column);
}

/** The name of a table's dual-write trigger function (in the state schema). */
export function syncFunctionName(schema: string, table: string): string {
  const hash = createHash('sha256').update(`${schema}.${table}`).digest('hex').slice(0, 8);
  return prefixedName('sync_', `${table}_${hash}`);
}

/**
 * The name PostgreSQL gives an index or constraint it names itself (makeObjectName and
 * ChooseRelationName): `<table>_<column>_<label>`, the longer of table and column cut first to
 * fit 63 bytes, with a number after the label while the name is taken.
 */
export function defaultObjectName(
  table: string,
  column: string | undefined,
  label: string,
  taken: (name: string) => boolean,
): string {
  const bytes = (text: string) => Buffer.byteLength(text);
  const clip = (text: string, max: number) => {
    let out = '';
    for (const char of text) {
      if (bytes(out + char) > max) break;
      out += char;
    }
    return out;
  };
  for (let pass = 0; ; pass++) {
    const suffix = pass === 0 ? label : `${label}${pass}`;
    const available = MAX_IDENTIFIER_BYTES - (column === undefined ? 0 : 1) - bytes(suffix) - 1;
    let tableBytes = bytes(table);
    let columnBytes = column === undefined ? 0 : bytes(column);
    while (tableBytes + columnBytes > available) {
      if (tableBytes > columnBytes) tableBytes--;
      else columnBytes--;
    }
    const parts = [clip(table, tableBytes)];
    if (column !== undefined) parts.push(clip(column, columnBytes));
    const name = [...parts, suffix].join('_');
    if (!taken(name)) return name;
  }
}
