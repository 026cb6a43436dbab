import { estimatedRows } from '../catalog/statistics.js';
import type { Queryable } from '../pg/queryable.js';
import { qualifiedName } from '../pg/quote.js';
import type { WalkPosition } from './walk.js';

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

/** What a batch leaves in the checkpoint, in the batch's own transaction. */
export interface BatchRecord {
  position: WalkPosition | null;
  rows: number;
  rowsTotal: number;
  done: boolean;
  batchSize: number;
  rowsPerSecond: number | null;
  throttle: string | null;
}

/**
 * One table's row in the state schema's `backfills`: how far each pass has walked. Each batch
 * writes it in the batch's own transaction, so after a crash, a lost connection or a server
 * restart the pass resumes at the last committed batch, never from zero and never past a row.
 */
export class BackfillCheckpoint {
  private readonly state: string;
  private readonly where = 'schema = $1 AND migration = $2 AND table_name = $3';

  constructor(
    private readonly db: Queryable,
    stateSchema: string,
    private readonly schema: string,
    private readonly migration: string,
    private readonly table: string,
  ) {
    this.state = qualifiedName(stateSchema, 'backfills');
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

  /** Records a batch of `pass`; run it inside the batch's transaction. */
  async save(pass: BackfillPass, batch: BatchRecord): Promise<void> {
    const [position, rows, done] =
      pass === 'fill'
        ? ['last_key', 'rows_done', 'done']
        : ['verify_key', 'rows_verified', 'verified'];
    await this.db.query(
      `UPDATE ${this.state} SET ${position} = $4, ${rows} = $5, ${done} = $6, rows_total = $7,
              batch_size = $8, rows_per_second = $9, throttle = $10, updated_at = now()
        WHERE ${this.where}`,
      [
        ...this.key,
        JSON.stringify(batch.position),
        batch.rows,
        batch.done,
        batch.rowsTotal,
        batch.batchSize,
        batch.rowsPerSecond,
        batch.throttle,
      ],
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
