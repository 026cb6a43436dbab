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
  /** False when the table was rewritten since the walk began: the rest of the finding means
   *  nothing, and the batch filled nothing. */
  intact: boolean;
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

/** What a verification pass checks in each row, as SQL over the table. */
export interface VerifyTarget {
  /** The table, quoted and qualified. */
  table: string;
  /** The fill's assignments, for rows it has not reached. */
  fill: string;
  /** The backfill mark column, qualified. */
  mark: string;
  columns: FilledColumn[];
  /** A JSON array naming a row in messages (its key, or its ctid when it has none). */
  sampleKey: string;
}

/**
 * One verification batch over a range: counts rows the fill wrote whose new columns differ from
 * `up` of their old ones, and fills rows the fill has not reached (a location walk can be passed
 * by a row that VACUUM FULL moved). Rows an application version wrote since are not compared:
 * the new version sets the new columns itself, and `up` need not undo `down`.
 * The range is read once, with no row locks; only a range that holds unfilled rows (rare) is
 * written, by a second statement bounded by the first's ends.
 */
export async function verifyBatch(
  client: pg.Client,
  walk: TableWalk,
  target: VerifyTarget,
  from: WalkPosition | null,
  rows: number,
): Promise<VerifyFinding> {
  const { table, mark, columns } = target;
  const differs =
    columns.length === 0
      ? 'false'
      : columns
          .map((c) => `${table}.${ident(c.column)} IS DISTINCT FROM ${parenthesize(c.expression)}`)
          .join(' OR ');
  const scan = walk.scan(from, rows, [
    `${target.sampleKey} AS _tidal_key`,
    `coalesce(${mark}, false) AS _tidal_missed`,
    `(${mark} IS NULL AND (${differs})) AS _tidal_mismatched`,
  ]);
  const { rows: result } = await client.query<VerifyFinding>(
    `SELECT ${scan.seen} AS seen, ${scan.position} AS position, ${scan.intact} AS intact,
            (count(*) FILTER (WHERE r._tidal_missed))::int AS missed,
            (count(*) FILTER (WHERE r._tidal_mismatched))::int AS mismatched,
            coalesce((array_agg(r._tidal_key) FILTER (WHERE r._tidal_mismatched))[1:5], '{}') AS sample
       FROM (${scan.select}) r`,
    scan.values,
  );
  const finding = result[0] ?? {
    seen: 0,
    position: null,
    missed: 0,
    mismatched: 0,
    sample: [],
    intact: true,
  };
  if (!finding.intact) return finding;
  if (finding.missed > 0 && finding.position) {
    const range = walk.between(table, from, finding.position);
    const filled = await client.query(
      `UPDATE ${table} SET ${target.fill} WHERE ${range.where} AND ${mark}`,
      range.values,
    );
    finding.missed = filled.rowCount ?? 0;
  }
  return finding;
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
