import { ident } from '../pg/quote.js';
import { parenthesize } from './expressions.js';

/**
 * SQL conditions over `_tidal_row`, a row of the table, that hold where the row breaks a
 * constraint: for rollback to give those rows `down`, and for a failed validation to name them.
 */

/** The expression of a check's definition: `CHECK ((a > 0)) NOT VALID` gives `((a > 0))`. */
export function checkExpression(definition: string): string {
  return definition
    .replace(/^CHECK\s*/, '')
    .replace(/\s+NOT VALID$/, '')
    .replace(/\s+NO INHERIT$/, '');
}

/** Breaks check `definition` (as pg_get_constraintdef prints it): false, not NULL. */
export function breaksCheck(definition: string): string {
  return `NOT coalesce(${parenthesize(checkExpression(definition))}, true)`;
}

/** Breaks a foreign key (MATCH SIMPLE): every key column set, and no row of `target` (quoted,
 *  qualified) with those values. */
export function breaksForeignKey(
  columns: string[],
  target: string,
  targetColumns: string[],
): string {
  const mine = columns.map((k) => `_tidal_row.${ident(k)}`);
  const theirs = targetColumns.map((k) => `_tidal_ref.${ident(k)}`);
  return `${mine.map((k) => `${k} IS NOT NULL`).join(' AND ')} AND NOT EXISTS (SELECT 1 FROM ${target} AS _tidal_ref WHERE (${theirs.join(', ')}) = (${mine.join(', ')}))`;
}

/**
 * Repeats the values of `columns` of another row of `table` (quoted, qualified): `every` row of
 * each group of equal values, or every row but the `first` of each (the one a unique
 * constraint could keep).
 */
export function repeatsKey(
  table: string,
  columns: string[],
  which: 'every' | 'after-first',
): string {
  const row = (alias: string) => columns.map((k) => `${alias}.${ident(k)}`).join(', ');
  const other = which === 'every' ? '<>' : '<';
  return `EXISTS (SELECT 1 FROM ${table} AS _tidal_other WHERE (${row('_tidal_other')}) = (${row('_tidal_row')}) AND _tidal_other.ctid ${other} _tidal_row.ctid)`;
}
