import type pg from 'pg';
import { columnTypes } from '../catalog/read.js';
import { locationExtent, tableFilesSql, tablePages } from '../catalog/statistics.js';
import { OperationError } from '../errors.js';
import { ident, literal, qualifiedName } from '../pg/quote.js';

/** Where a walk stopped: the last key done, or (walking by location) the next page to visit,
 *  the page the walk ends at and the files the pages are of (tableFilesSql). */
export type WalkPosition = string[];

/**
 * The table was rewritten (VACUUM FULL, CLUSTER, pg_repack) since a location walk began: its
 * rows are on other pages now, so the positions the walk stored mean nothing; the pass walks
 * the table again from its start.
 */
export class TableRewritten extends OperationError {
  constructor(table: string) {
    super(
      `"${table}" was rewritten (VACUUM FULL, CLUSTER or pg_repack) during its walk by physical location`,
    );
  }
}

/**
 * One batch's range of rows, as SQL. A batch statement starts `WITH bound AS MATERIALIZED
 * (<bound>)`; `bound` has one row, aliased `_tidal_b`, with the rows the range holds in
 * `_tidal_seen`. `inRange(table)` selects the range's rows of `table` (it may refer to
 * `_tidal_b`), and `position` is where the walk stands after the batch.
 */
export interface WalkRange {
  bound: string;
  inRange: (table: string) => string;
  position: string;
  /** True while the positions of the walk still point where they did (see WalkScan). */
  intact: string;
  values: unknown[];
}

/**
 * One batch's range of rows read in a single pass: `select` gives, in walk order, each row of
 * the range with the columns the caller asked for (and what the walk itself needs); `seen` and
 * `position` are aggregates over its rows, aliased `r`. Used where the batch only reads, so no
 * second scan of the range is needed to find its end first.
 */
export interface WalkScan {
  select: string;
  seen: string;
  position: string;
  /** True while the positions of the walk still point where they did: always, by key; by
   *  location, while the table is in the files the walk began in (a pass that finds it false
   *  begins again: TableRewritten). Evaluated in the batch's statement, after it has locked the table,
   *  so no rewrite comes between the two. */
  intact: string;
  values: unknown[];
}

/** The rows of a range whose ends are known: a condition on `table`, and its parameters. */
export interface WalkBetween {
  where: string;
  values: unknown[];
}

/**
 * A part of a walk that one worker takes at a time: from `start`, a position (null: the
 * table's start), to `end`, the last key it holds (null: the table's end; a location walk's
 * position carries its own end). The segments of a walk cover the whole table, in order.
 */
export interface WalkSegment {
  start: WalkPosition | null;
  end: WalkPosition | null;
}

/**
 * How a backfill moves through a table, one short batch at a time, never rescanning what it has
 * passed: by a unique key (keyset pagination over its index), or, for a table without one, by
 * physical location (a TID range scan over a run of pages).
 */
export interface TableWalk {
  /** Says how rows are walked, for messages. */
  readonly description: string;
  /** A JSON array of the key of row `table` (its ctid when there is no key), for samples. */
  rowKey(table: string): string;
  /** The range after `from` (null: from the start) holding about `rows` rows. */
  range(from: WalkPosition | null, rows: number): WalkRange;
  /** The range after `from` holding about `rows` rows, read once, with `columns` (SQL over the
   *  table's columns, each aliased) for each of its rows. */
  scan(from: WalkPosition | null, rows: number, columns: string[]): WalkScan;
  /** The rows of `table` after `from` up to `to`, a position a batch ended at. */
  between(table: string, from: WalkPosition | null, to: WalkPosition): WalkBetween;
  /** Whether the table holds nothing past a batch that saw `seen` of the `rows` it asked for. */
  finished(position: WalkPosition | null, seen: number, rows: number): boolean;
  /** Learns from a finished batch (a location walk, how many rows a page holds). */
  record(from: WalkPosition | null, position: WalkPosition | null, seen: number): void;
  /** Splits the walk into about `parts` segments of about equal rows, in walk order (fewer when
   *  the table has fewer rows). */
  split(client: pg.Client, parts: number): Promise<WalkSegment[]>;
  /** The walk of one segment: it finishes at the segment's end. */
  within(segment: WalkSegment): TableWalk;
}

/** How many pages a split reads at most (a sample of them, TABLESAMPLE SYSTEM): enough for
 *  segments of about equal size, few enough to take well under a second on any table. */
const SPLIT_SAMPLE_PAGES = 1000;

/**
 * The walk for `table`: by `key` when it has columns, else by location. A location walk counts
 * as seen only the rows that meet `counted` (a condition on the table's columns): rows the
 * backfill has itself updated may have moved ahead of it and must not be counted twice.
 */
export async function walkFor(
  client: pg.Client,
  schema: string,
  table: string,
  key: string[],
  counted = 'true',
): Promise<TableWalk> {
  const qualified = qualifiedName(schema, table);
  return key.length > 0
    ? new KeyWalk(qualified, key, await keyTypes(client, qualified, table, key))
    : await walkByLocation(client, schema, table, counted);
}

/** The walk of `table` by physical location, whatever keys it has (see LocationWalk). */
export function walkByLocation(
  client: pg.Client,
  schema: string,
  table: string,
  counted = 'true',
): Promise<TableWalk> {
  return LocationWalk.open(client, qualifiedName(schema, table), counted);
}

class KeyWalk implements TableWalk {
  readonly description: string;

  constructor(
    private readonly table: string,
    private readonly key: string[],
    private readonly types: string[],
    /** The last key of the segment walked; undefined: the whole table. */
    private readonly end?: WalkPosition,
  ) {
    this.description = `by key (${key.join(', ')})`;
  }

  /** The walk's condition on the key after `from` and up to its end, its parameters from
   *  `$first` on. */
  private after(from: WalkPosition | null, first: number): { where: string; values: unknown[] } {
    const keyList = this.key.map(ident).join(', ');
    const conditions: string[] = [];
    const values: unknown[] = [];
    if (from) {
      conditions.push(`(${keyList}) > (${this.params(first)})`);
      values.push(...from);
    }
    if (this.end) {
      conditions.push(`(${keyList}) <= (${this.params(first + values.length)})`);
      values.push(...this.end);
    }
    return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', values };
  }

  rowKey(table: string): string {
    return `json_build_array(${this.key.map((k) => `${table}.${ident(k)}::text`).join(', ')})`;
  }

  range(from: WalkPosition | null, rows: number): WalkRange {
    const keyList = this.key.map(ident).join(', ');
    // The range's columns get names of tidal's own, so `up` cannot mistake them for the table's.
    const bounds = this.key.map((_, i) => `_tidal_k${i}`);
    const descending = this.key.map((k) => `${ident(k)} DESC`).join(', ');
    const params = this.params(2);
    const row = (alias: string, names: string[]) => names.map((k) => `${alias}.${k}`).join(', ');
    // An index-only walk of at most `rows` keys finds the range's last key; the batch then reads
    // the range by index range scan, not by a join against a list of keys.
    // The last key of the range: max() for one column; for several, the first of the keys
    // sorted descending (max() does not take a row).
    const last =
      this.key.length === 1
        ? [`max(${keyList}) AS ${bounds[0]}`]
        : this.key.map(
            (k, i) => `(array_agg(${ident(k)} ORDER BY ${descending}))[1] AS ${bounds[i]}`,
          );
    const after = this.after(from, 2);
    const bound = `
      SELECT count(*)::int AS _tidal_seen, ${last.join(', ')}
        FROM (SELECT ${keyList} FROM ${this.table} ${after.where}
               ORDER BY ${keyList} LIMIT $1) keys`;
    return {
      bound,
      inRange: (table) => {
        const tableKey = row(table, this.key.map(ident));
        return `${from ? `(${tableKey}) > (${params}) AND ` : ''}(${tableKey}) <= (${row('_tidal_b', bounds)})`;
      },
      position: `CASE WHEN _tidal_b._tidal_seen > 0 THEN json_build_array(${bounds.map((k) => `_tidal_b.${k}::text`).join(', ')}) END`,
      intact: 'true',
      values: [rows, ...after.values],
    };
  }

  scan(from: WalkPosition | null, rows: number, columns: string[]): WalkScan {
    const keyList = this.key.map(ident).join(', ');
    const outer = this.key.map((k) => `r.${ident(k)}`);
    // Rows come in key order: the range's last key is the greatest (max() takes no row).
    const last =
      this.key.length === 1
        ? `CASE WHEN count(*) > 0 THEN json_build_array(max(${outer[0]})::text) END`
        : `(array_agg(json_build_array(${outer.map((k) => `${k}::text`).join(', ')}) ORDER BY ${outer.map((k) => `${k} DESC`).join(', ')}))[1]`;
    const after = this.after(from, 2);
    return {
      select: `SELECT ${keyList}, ${columns.join(', ')} FROM ${this.table} ${after.where}
                ORDER BY ${keyList} LIMIT $1`,
      seen: 'count(*)::int',
      position: last,
      intact: 'true',
      values: [rows, ...after.values],
    };
  }

  between(table: string, from: WalkPosition | null, to: WalkPosition): WalkBetween {
    const tableKey = this.key.map((k) => `${table}.${ident(k)}`).join(', ');
    const upper = from ? this.key.length + 1 : 1;
    return {
      where: `${from ? `(${tableKey}) > (${this.params(1)}) AND ` : ''}(${tableKey}) <= (${this.params(upper)})`,
      values: [...(from ?? []), ...to],
    };
  }

  /** The key's columns as parameters from `$first` on, cast to their types. */
  private params(first: number): string {
    return this.key.map((_, i) => `$${first + i}::${this.types[i]}`).join(', ');
  }

  finished(_position: WalkPosition | null, seen: number, rows: number): boolean {
    return seen < rows;
  }

  record(): void {}

  async split(client: pg.Client, parts: number): Promise<WalkSegment[]> {
    const keyList = this.key.map(ident).join(', ');
    const descending = this.key.map((k) => `${ident(k)} DESC`).join(', ');
    // The last key of each of `parts` runs of a sample of the table's pages, in key order: rows
    // on a page are as likely to be anywhere in key order as the table's rows are.
    const { rows } = await client.query<{ last: WalkPosition }>(
      `SELECT (array_agg(json_build_array(${this.key.map((k) => `${ident(k)}::text`).join(', ')}) ORDER BY ${descending}))[1] AS last
         FROM (SELECT ${keyList}, ntile($2) OVER (ORDER BY ${keyList}) AS _tidal_part
                 FROM ${this.table} TABLESAMPLE SYSTEM ($1) REPEATABLE (0)) sample
        GROUP BY _tidal_part ORDER BY _tidal_part`,
      [await samplePercent(client, this.table), Math.max(1, parts)],
    );
    const ends = rows.slice(0, -1).map((r) => r.last);
    return [...ends, null].map((end, i) => ({ start: ends[i - 1] ?? null, end }));
  }

  within(segment: WalkSegment): TableWalk {
    return segment.end
      ? new KeyWalk(this.table, this.key, this.types, segment.end)
      : new KeyWalk(this.table, this.key, this.types);
  }
}

/** What percent of a table's pages a split samples. */
async function samplePercent(client: pg.Client, table: string): Promise<number> {
  const pages = (await tablePages(client, table))?.pages ?? 0;
  return pages <= SPLIT_SAMPLE_PAGES ? 100 : (100 * SPLIT_SAMPLE_PAGES) / pages;
}

/**
 * Walks a table by runs of pages (`ctid` ranges, a TID range scan), up to the table's size when
 * the walk began: the fill of a table without a usable key, and every verification pass (a
 * TID range reads each page once; a key range also follows the index to the dead versions the
 * fill left behind). Rows that needed filling were in the table when the dual-write trigger went
 * in; rows the application moves or adds since get their new columns from the trigger, so pages
 * added later hold nothing to fill. A rewrite of the table (VACUUM FULL, CLUSTER, pg_repack)
 * moves every row: each batch checks that the table is still in the files the walk began in
 * (`intact`), and the pass begins again when it is not. A partitioned table has no pages of its
 * own: a TID range selects those pages of every leaf partition, so the walk goes up to its
 * largest partition's size.
 */
class LocationWalk implements TableWalk {
  readonly description =
    'by physical location (the table has no primary key or unique NOT NULL key)';
  private rowsPerPage: number;
  /** Pages the last batch took (a batch takes at most twice as many). */
  private lastPages: number | undefined;

  private constructor(
    private readonly table: string,
    private readonly counted: string,
    private readonly pages: number,
    private readonly files: string,
    rowsPerPage: number,
  ) {
    this.rowsPerPage = rowsPerPage;
  }

  static async open(client: pg.Client, table: string, counted: string): Promise<LocationWalk> {
    const extent = await locationExtent(client, table);
    if (!extent) throw new OperationError(`backfill: table ${table} not found`);
    return new LocationWalk(table, counted, extent.pages, extent.files, extent.rowsPerPage ?? 50);
  }

  rowKey(table: string): string {
    return `json_build_array(${table}.ctid::text)`;
  }

  range(from: WalkPosition | null, rows: number): WalkRange {
    const { start, end, last, files } = this.batchPages(from, rows);
    const inRange = (table: string) => pageRange(table, '$1', '$2');
    return {
      bound: `SELECT count(*)::int AS _tidal_seen FROM ${this.table} WHERE ${inRange(this.table)} AND (${this.counted})`,
      inRange,
      position: this.position(),
      intact: this.intact(),
      values: [start, end, last, files],
    };
  }

  scan(from: WalkPosition | null, rows: number, columns: string[]): WalkScan {
    const { start, end, last, files } = this.batchPages(from, rows);
    return {
      select: `SELECT (${this.counted}) AS _tidal_counted, ${columns.join(', ')} FROM ${this.table}
                WHERE ${pageRange(this.table, '$1', '$2')}`,
      seen: '(count(*) FILTER (WHERE r._tidal_counted))::int',
      position: this.position(),
      intact: this.intact(),
      values: [start, end, last, files],
    };
  }

  /** The position after a batch whose parameters are `$1` (first page) to `$4` (files). */
  private position(): string {
    return 'json_build_array($2::bigint::text, $3::bigint::text, $4::text)';
  }

  private intact(): string {
    return `${tableFilesSql(`${literal(this.table)}::regclass`)} = $4`;
  }

  between(table: string, from: WalkPosition | null, to: WalkPosition): WalkBetween {
    return { where: pageRange(table, '$1', '$2'), values: [Number(from?.[0] ?? 0), Number(to[0])] };
  }

  /** The pages of the batch after `from` holding about `rows` rows, the walk's end and files. */
  private batchPages(
    from: WalkPosition | null,
    rows: number,
  ): { start: number; end: number; last: number; files: string } {
    const start = Number(from?.[0] ?? 0);
    const last = this.lastPage(from);
    // Pages that held few rows (the dead versions a fill leaves) lower the estimate: a batch
    // takes at most twice the pages of the one before, so the first run of live pages after
    // them is not read in one long batch.
    const wanted = Math.max(1, Math.ceil(rows / this.rowsPerPage));
    const pages = this.lastPages === undefined ? wanted : Math.min(wanted, 2 * this.lastPages);
    const end = Math.min(last, start + pages);
    // A position stored before positions named their files (an older tidal) is taken as these
    // files': such a walk is not checked for a rewrite, as it was not then.
    return { start, end, last, files: from?.[2] ?? this.files };
  }

  finished(position: WalkPosition | null): boolean {
    return Number(position?.[0] ?? 0) >= this.lastPage(position);
  }

  /** The end of the walk: the table's size when the walk first began, kept in the position so
   *  a resumed walk does not also visit the pages its own updates appended. */
  private lastPage(position: WalkPosition | null): number {
    return position?.[1] === undefined ? this.pages : Number(position[1]);
  }

  record(from: WalkPosition | null, position: WalkPosition | null, seen: number): void {
    const pages = Number(position?.[0] ?? 0) - Number(from?.[0] ?? 0);
    if (pages > 0) this.lastPages = pages;
    if (pages > 0 && seen > 0) this.rowsPerPage = 0.5 * this.rowsPerPage + 0.5 * (seen / pages);
  }

  /** Runs of pages of equal length; a segment's start position carries where it ends. */
  async split(_client: pg.Client, parts: number): Promise<WalkSegment[]> {
    const count = Math.max(1, Math.min(parts, this.pages));
    const edge = (i: number) => Math.round((i * this.pages) / count);
    return Array.from({ length: count }, (_, i) => ({
      start: [String(edge(i)), String(edge(i + 1)), this.files],
      end: null,
    }));
  }

  within(): TableWalk {
    return this;
  }
}

/** The rows of `table` on pages `from` (a parameter) up to, not including, `to`: a TID range. */
function pageRange(table: string, from: string, to: string): string {
  const page = (n: string) => `('(' || ${n}::bigint || ',0)')::tid`;
  return `${table}.ctid >= ${page(from)} AND ${table}.ctid < ${page(to)}`;
}

async function keyTypes(
  client: pg.Client,
  qualified: string,
  table: string,
  key: string[],
): Promise<string[]> {
  const types = await columnTypes(client, qualified);
  return key.map((k) => {
    const type = types.get(k);
    if (!type) throw new OperationError(`backfill: key column "${k}" of "${table}" not found`);
    return type;
  });
}
