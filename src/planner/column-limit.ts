import type { TableInfo } from '../catalog/types.js';
import { InputError } from '../errors.js';
import { MAX_TABLE_COLUMNS } from '../migration/fields.js';
import type { Step } from '../model/step.js';

/** What a table holds before start adds to it: columns, and the dropped ones, which keep their
 *  attribute numbers until the table is made anew (VACUUM FULL keeps them). */
export interface TableColumns {
  live: number;
  dropped: number;
}

export function catalogColumns(info: TableInfo): TableColumns {
  return { live: info.attributes - info.droppedColumns, dropped: info.droppedColumns };
}

/** The table (by physical name) a step adds a column to, if it makes one (techniques/column-steps
 *  `addColumnStep`, which every ADD COLUMN of start goes through): each takes an attribute
 *  number for good. */
export function columnAddedTo(step: Step): string | undefined {
  return step.creates?.find((made) => made.kind === 'column')?.table;
}

/**
 * Counts the columns start adds to each table (new columns, copies, the backfill's row mark) as
 * planning goes, so a start that would add more than PostgreSQL allows is refused before any
 * statement runs, and as soon as planning gets there: otherwise ADD COLUMN after ADD COLUMN
 * runs under an exclusive lock, the last one fails, and the rollback leaves every one of them
 * behind as a dropped attribute that each later migration of the table counts too.
 */
export class ColumnLimit {
  private readonly added = new Map<string, number>();

  /** `tables`: the tables before start, by physical name (those this migration creates, with
   *  their columns); a table it does not know (made by raw SQL) is left to the database. */
  constructor(
    private readonly file: string,
    private readonly tables: (name: string) => TableColumns | undefined,
  ) {}

  /** Counts the ADD COLUMN statements of `steps`; returns the first table they put over. */
  count(steps: readonly Step[]): string | undefined {
    let over: string | undefined;
    for (const step of steps) {
      const table = columnAddedTo(step);
      if (table === undefined) continue;
      const added = (this.added.get(table) ?? 0) + 1;
      this.added.set(table, added);
      const before = this.tables(table);
      if (before && before.live + before.dropped + added > MAX_TABLE_COLUMNS) over ??= table;
    }
    return over;
  }

  /** The refusal for `table`; `more`, when planning stopped early: columns later operations
   *  add at least. */
  refusal(table: string, more?: number): InputError {
    const before = this.tables(table) ?? { live: 0, dropped: 0 };
    const added = (this.added.get(table) ?? 0) + (more ?? 0);
    return new InputError(
      `${this.file}: table "${table}" cannot take the columns this migration adds: it has ${before.live} columns and ${before.dropped} dropped ones, start would add ${more === undefined ? '' : 'at least '}${added} (new columns, copies of changed ones, the backfill's row mark), and PostgreSQL allows ${MAX_TABLE_COLUMNS} per table, dropped columns included. Dropped columns are only reclaimed by making the table anew (a tool such as pg_repack, or a new table the rows are copied to; VACUUM FULL keeps them); split the migration, or make the table anew first`,
    );
  }
}
