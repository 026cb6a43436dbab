import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';

/** What an operator asked of a running backfill, from any machine (`tidal backfill ...`). */
export interface BackfillCommand {
  paused: boolean;
  /** Rows per second ceiling set live; null: the one tidal was started with. */
  rowsPerSecond: number | null;
}

/**
 * Live control of a migration's backfill through the state schema: `tidal backfill pause`,
 * `resume` and `rate N` write a row; the running backfill reads it before every batch (so it
 * obeys within one batch, about 100 ms) and every 250 ms while paused.
 */
export class BackfillControl {
  private readonly table: string;

  constructor(
    private readonly db: Queryable,
    stateSchema: string,
    private readonly schema: string,
    private readonly migration: string,
  ) {
    this.table = `${ident(stateSchema)}.backfill_control`;
  }

  async read(): Promise<BackfillCommand> {
    const { rows } = await this.db.query<{ paused: boolean; rows_per_second: number | null }>(
      `SELECT paused, rows_per_second FROM ${this.table} WHERE schema = $1 AND migration = $2`,
      [this.schema, this.migration],
    );
    return { paused: rows[0]?.paused ?? false, rowsPerSecond: rows[0]?.rows_per_second ?? null };
  }

  /** Records a command; fields left out keep their value. */
  async write(command: Partial<BackfillCommand>): Promise<BackfillCommand> {
    const { rows } = await this.db.query<{ paused: boolean; rows_per_second: number | null }>(
      `INSERT INTO ${this.table} (schema, migration, paused, rows_per_second)
       VALUES ($1, $2, coalesce($3, false), $4)
       ON CONFLICT (schema, migration) DO UPDATE
          SET paused = coalesce($3, ${this.table}.paused),
              rows_per_second = CASE WHEN $5 THEN $4 ELSE ${this.table}.rows_per_second END,
              updated_at = now()
       RETURNING paused, rows_per_second`,
      [
        this.schema,
        this.migration,
        command.paused ?? null,
        command.rowsPerSecond ?? null,
        command.rowsPerSecond !== undefined,
      ],
    );
    const row = rows[0];
    return { paused: row?.paused ?? false, rowsPerSecond: row?.rows_per_second ?? null };
  }
}
