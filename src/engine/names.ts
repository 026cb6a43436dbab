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

/** The version schema of a version: `<schema>_<version>`. */
export function versionSchemaName(schema: string, version: string): string {
  return `${schema}_${version}`;
}
