import type pg from 'pg';
import { columnTypes } from '../catalog/read.js';
import { OperationError } from '../errors.js';
import { parenthesize } from '../model/expressions.js';
import { ident, qualifiedName } from '../pg/quote.js';
import { rolledBack } from '../pg/rolled-back.js';
import type { TableWalk, WalkPosition } from './walk.js';

/** A column the backfill fills, and the `up` expression it is filled from. */
export interface FilledColumn {
  column: string;
  /** The column's name in the new version, for messages. */
  name?: string;
  expression: string;
}

/** What one verification batch found in its range. */
export interface VerifyFinding {
  seen: number;
  position: WalkPosition | null;
  /** Rows still waiting for the fill (moved behind a location walk): filled by this batch. */
  missed: number;
  /** Rows the fill wrote whose new columns differ from `up` of their old ones. */
  mismatched: number;
  /** Keys of up to five mismatched rows. */
  sample: unknown[][];
}

/** Verification found rows whose new columns are not what `up` gives for the old ones. */
export class VerificationError extends OperationError {
  constructor(table: string, finding: VerifyFinding) {
    const keys = finding.sample.map((k) => `(${k.join(', ')})`).join(', ');
    super(
      `verification of the backfill of "${table}" failed: ${finding.mismatched} row(s) in one batch have new columns that differ from what up gives for their old columns, e.g. key ${keys}. ` +
        'Something wrote the new columns behind the dual-write trigger (triggers disabled, session_replication_role = replica). ' +
        'Writing those rows again through the old version recomputes them; then run `tidal start` again to finish verifying, or `tidal rollback`',
    );
  }
}

/**
 * One verification batch over a range: fills rows the fill has not reached (a location walk
 * can be passed by a row that VACUUM FULL moved), and counts rows the fill wrote whose new
 * columns differ from `up` of their old ones. Rows an application version wrote since are not
 * compared: the new version sets the new columns itself, and `up` need not undo `down`.
 * A plain read of the range: no row locks beyond those of the rows it fills.
 */
export async function verifyBatch(
  client: pg.Client,
  walk: TableWalk,
  table: string,
  fill: string,
  mark: string,
  columns: FilledColumn[],
  from: WalkPosition | null,
  rows: number,
): Promise<VerifyFinding> {
  const range = walk.range(from, rows);
  const differs =
    columns.length === 0
      ? 'false'
      : columns
          .map((c) => `${table}.${ident(c.column)} IS DISTINCT FROM ${parenthesize(c.expression)}`)
          .join(' OR ');
  const { rows: result } = await client.query<VerifyFinding>(
    `WITH bound AS MATERIALIZED (${range.bound}), missed AS (
       UPDATE ${table} SET ${fill} FROM bound _tidal_b
        WHERE ${range.inRange(table)} AND ${mark}
       RETURNING 1
     )
     SELECT _tidal_b._tidal_seen AS seen, ${range.position} AS position,
            (SELECT count(*) FROM missed)::int AS missed, checked.mismatched, checked.sample
       FROM bound _tidal_b, LATERAL (
         SELECT count(*)::int AS mismatched,
                coalesce((array_agg(${walk.rowKey(table)}))[1:5], '{}') AS sample
           FROM ${table}
          WHERE ${range.inRange(table)} AND ${mark} IS NULL AND (${differs})
       ) checked`,
    range.values,
  );
  return result[0] ?? { seen: 0, position: null, missed: 0, mismatched: 0, sample: [] };
}

/**
 * The filled columns verification can compare, and why the others are skipped: only an
 * immutable `up` gives the same value when evaluated again (`now()`, `random()` or a subquery
 * do not). PostgreSQL decides, as it does for a generated column: each expression is tried as
 * one on a temporary copy of the table, in a transaction that is rolled back.
 */
export async function verifiableColumns(
  client: pg.Client,
  schema: string,
  table: string,
  columns: FilledColumn[],
): Promise<{ checked: FilledColumn[]; skipped: { column: string; reason: string }[] }> {
  const qualified = qualifiedName(schema, table);
  const checked: FilledColumn[] = [];
  const skipped: { column: string; reason: string }[] = [];
  const types = await columnTypes(client, qualified);
  const opening = [
    `SET LOCAL search_path = ${ident(schema)}, pg_catalog`,
    `CREATE TEMPORARY TABLE _tidal_verify_probe (LIKE ${qualified})`,
  ];
  await rolledBack(client, opening, async () => {
    for (const c of columns) {
      const type = types.get(c.column);
      if (!type) {
        skipped.push({ column: c.name ?? c.column, reason: 'the column was not found' });
        continue;
      }
      await client.query('SAVEPOINT probe');
      try {
        await client.query(
          `ALTER TABLE _tidal_verify_probe ADD COLUMN _tidal_probe ${type} GENERATED ALWAYS AS (${parenthesize(c.expression)}) STORED`,
        );
        checked.push(c);
      } catch (error) {
        skipped.push({
          column: c.name ?? c.column,
          reason: `its up cannot be evaluated again to the same value (${(error as Error).message})`,
        });
      }
      await client.query('ROLLBACK TO SAVEPOINT probe');
    }
  });
  return { checked, skipped };
}
