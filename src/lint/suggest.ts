/**
 * The tidal migration that makes a flagged statement's change safely: the statement converted
 * on its own, as `tidal convert` would (convert/convert.ts). What the statement cannot say (the
 * value of a new NOT NULL column for existing rows, the old type a `down` casts back to) is left
 * as a placeholder for the user to write, which tidal refuses until it is written.
 */
import type { Node } from 'libpg-query';
import { stringify } from 'yaml';
import { operationsOf } from '../convert/convert.js';

/** A pgroll-format migration as YAML, or null when the statement has no tidal operation. */
export function tidalMigration(node: Node): string | null {
  const operations = operationsOf(node);
  return operations.length > 0 ? stringify({ operations }, { lineWidth: 0 }).trimEnd() : null;
}
