import { estimatedRows } from '../catalog/statistics.js';
import type { Queryable } from '../pg/queryable.js';
import { qualifiedName } from '../pg/quote.js';
import type { WalkPosition, WalkSegment } from './walk.js';

/** Which pass over the table: filling the new columns, or checking them afterwards. */
export type BackfillPass = 'fill' | 'verify';

/** Where one table's backfill stands, as stored in the state schema. */
export interface CheckpointState {
  fill: PassState;
  verify: PassState;
  /** Rows the table holds: pg_class's estimate at first, then at least the rows seen. */
  rowsTotal: number;
}

export interface PassState {
  position: WalkPosition | null;
  rows: number;
  done: boolean;
}

/** One segment of a pass as stored: its bounds, where its walk stands and the rows it has done. */
export interface SegmentState {
  index: number;
  segment: WalkSegment;
  /** Where the segment's walk resumes: its start until a batch of it commits. */
  position: WalkPosition | null;
  rows: number;
  done: boolean;
}

/** What a batch leaves in the checkpoint, in the batch's own transaction. */
export interface BatchRecord {
  /** The segment the batch walked, and where its walk stands after the batch. */
  segment: number;
  position: WalkPosition | null;
  /** Rows the batch's range held. */
  seen: number;
  /** Whether the segment is walked to its end. */
  done: boolean;
  batchSize: number;
  /** The whole pass's rows per second over this run, all workers together. */
  rowsPerSecond: number | null;
  throttle: string | null;
  workers: number;
}

/**
 * One table's checkpoint in the state schema: its row in `backfills` (the totals `tidal status`
 * shows, and whether each pass is done) and, per pass, its segments in `backfill_segments`, each
 * walked by one worker at a time. Each batch records its segment's position and adds its rows
 * to the totals in the batch's own transaction, so after a crash, a lost connection or a server
 * restart every segment resumes at its last committed batch, never from zero and never past a
 * row, whatever number of workers runs it then.
 */
export class BackfillCheckpoint {
  private readonly state: string;
  private readonly segmentsTable: string;
  private readonly where = 'schema = $1 AND migration = $2 AND table_name = $3';

  constructor(
    private readonly db: Queryable,
    stateSchema: string,
    private readonly schema: string,
    private readonly migration: string,
    private readonly table: string,
  ) {
    this.state = qualifiedName(stateSchema, 'backfills');
    this.segmentsTable = qualifiedName(stateSchema, 'backfill_segments');
  }

  private get key(): string[] {
    return [this.schema, this.migration, this.table];
  }

  /** Reads the checkpoint, creating it (with the planner's row estimate) the first time. */
  async open(): Promise<CheckpointState> {
    const rowsTotal = await estimatedRows(this.db, qualifiedName(this.schema, this.table));
    await this.db.query(
      `INSERT INTO ${this.state} (schema, migration, table_name, rows_total)
       VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [...this.key, rowsTotal],
    );
    const { rows } = await this.db.query<{
      last_key: WalkPosition | null;
      rows_done: string;
      done: boolean;
      verify_key: WalkPosition | null;
      rows_verified: string;
      verified: boolean;
      rows_total: string | null;
    }>(
      `SELECT last_key, rows_done, done, verify_key, rows_verified, verified, rows_total
         FROM ${this.state} WHERE ${this.where}`,
      this.key,
    );
    const row = rows[0];
    return {
      fill: {
        position: row?.last_key ?? null,
        rows: Number(row?.rows_done ?? 0),
        done: !!row?.done,
      },
      verify: {
        position: row?.verify_key ?? null,
        rows: Number(row?.rows_verified ?? 0),
        done: !!row?.verified,
      },
      rowsTotal: Number(row?.rows_total ?? 0),
    };
  }

  /** The segments of `pass`, in walk order; none before the pass first began. */
  async segments(pass: BackfillPass): Promise<SegmentState[]> {
    const { rows } = await this.db.query<{
      segment: number;
      start_key: WalkPosition | null;
      end_key: WalkPosition | null;
      position: WalkPosition | null;
      rows_done: string;
      done: boolean;
    }>(
      `SELECT segment, start_key, end_key, position, rows_done, done FROM ${this.segmentsTable}
        WHERE ${this.where} AND pass = $4 ORDER BY segment`,
      [...this.key, pass],
    );
    return rows.map((r) => ({
      index: r.segment,
      segment: { start: r.start_key, end: r.end_key },
      position: r.position,
      rows: Number(r.rows_done),
      done: r.done,
    }));
  }

  /**
   * Records the segments of `pass` as it first begins. `resumed` is how far a pass had walked
   * before checkpoints had segments (an older tidal): it goes on as one segment from there.
   */
  async createSegments(
    pass: BackfillPass,
    segments: WalkSegment[],
    resumed: PassState,
  ): Promise<SegmentState[]> {
    const planned = resumed.position
      ? [
          {
            index: 0,
            segment: { start: null, end: null },
            position: resumed.position,
            rows: resumed.rows,
            done: false,
          },
        ]
      : segments.map((segment, index) => ({
          index,
          segment,
          position: segment.start,
          rows: 0,
          done: false,
        }));
    await this.db.query(
      `INSERT INTO ${this.segmentsTable} (schema, migration, table_name, pass, segment, start_key, end_key, position, rows_done)
       SELECT $1, $2, $3, $4, s.segment, s.start_key, s.end_key, s.position, s.rows_done
         FROM jsonb_to_recordset($5::jsonb)
           AS s(segment integer, start_key jsonb, end_key jsonb, position jsonb, rows_done bigint)`,
      [
        ...this.key,
        pass,
        JSON.stringify(
          planned.map((s) => ({
            segment: s.index,
            start_key: s.segment.start,
            end_key: s.segment.end,
            position: s.position,
            rows_done: s.rows,
          })),
        ),
      ],
    );
    return planned;
  }

  /** Records a batch of `pass`: its segment's position, and its rows added to the pass's
   *  totals. One statement, run inside the batch's transaction. */
  async save(pass: BackfillPass, batch: BatchRecord): Promise<void> {
    const rows = pass === 'fill' ? 'rows_done' : 'rows_verified';
    await this.db.query(
      `WITH segment AS (
         UPDATE ${this.segmentsTable}
            SET position = $5, rows_done = rows_done + $6, done = $7, updated_at = now()
          WHERE ${this.where} AND pass = $4 AND segment = $8
       )
       UPDATE ${this.state}
          SET ${rows} = ${rows} + $6, rows_total = greatest(rows_total, ${rows} + $6),
              batch_size = $9, rows_per_second = $10, throttle = $11, workers = $12,
              updated_at = now()
        WHERE ${this.where}`,
      [
        ...this.key,
        pass,
        JSON.stringify(batch.position),
        batch.seen,
        batch.done,
        batch.segment,
        batch.batchSize,
        batch.rowsPerSecond,
        batch.throttle,
        batch.workers,
      ],
    );
  }

  /** Records that every segment of `pass` is done; a finished fill knows the table's rows. */
  async finish(pass: BackfillPass): Promise<void> {
    await this.db.query(
      pass === 'fill'
        ? `UPDATE ${this.state} SET done = true, rows_total = rows_done, throttle = NULL, updated_at = now() WHERE ${this.where}`
        : `UPDATE ${this.state} SET verified = true, throttle = NULL, updated_at = now() WHERE ${this.where}`,
      this.key,
    );
  }

  /**
   * Forgets the segments of `pass`, so that it begins again from the table's start (its walk's
   * positions no longer hold: the table was rewritten). A verification counts its rows again; a
   * fill keeps the rows it has written, which are not counted again.
   */
  async restart(pass: BackfillPass): Promise<void> {
    await this.db.query(
      `WITH segments AS (
         DELETE FROM ${this.segmentsTable} WHERE ${this.where} AND pass = $4
       )
       UPDATE ${this.state}
          SET ${pass === 'fill' ? 'last_key = NULL' : 'verify_key = NULL, rows_verified = 0'}, updated_at = now()
        WHERE ${this.where}`,
      [...this.key, pass],
    );
  }

  /** Records why the backfill waits, for `tidal status` on any machine. */
  async recordThrottle(throttle: string): Promise<void> {
    await this.db.query(
      `UPDATE ${this.state} SET throttle = $4, updated_at = now() WHERE ${this.where}`,
      [...this.key, throttle],
    );
  }
}
