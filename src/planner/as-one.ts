/**
 * Several pending migration files as one migration (`tidal migrate --as-one`): their operations
 * in file order under the last file's name and version, planned together, so the release that
 * spans them needs one start, one backfill per table and one complete.
 */
import { InputError } from '../errors.js';
import type { Migration, Operation } from '../migration/schema.js';
import { identifiersIn, isColumnItself, mentionsColumn } from '../model/expressions.js';

/** A migration file to run as part of the whole. */
export interface MemberMigration {
  migration: Migration;
  file: string;
}

/** Where an operation of the whole comes from: its file and its index there. */
export interface OperationSource {
  file: string;
  index: number;
}

export interface CombinedMigration {
  /** The operations of every file in order, named and versioned as the last file. */
  migration: Migration;
  /** For each operation of `migration`, where it was written. */
  sources: OperationSource[];
}

/**
 * The files of `members` (in file order, at least one) as one migration. Refused, before
 * anything is planned, when an `up` or `down` of one file reads a column another file changes:
 * each was written for the row of the version next to it, and as one version the row is the
 * one before the first file (for `up`) or after the last (for `down`).
 */
export async function combineMigrations(members: MemberMigration[]): Promise<CombinedMigration> {
  const last = members.at(-1);
  if (!last) throw new Error('combineMigrations: no migration given');
  const sites = sitesOf(members);
  for (const site of sites) {
    // The old version has no table made by the whole: neither `up` nor `down` ever runs on it.
    if (site.created) continue;
    for (const read of await readsOf(site)) {
      for (const other of sites) {
        const reads =
          read.direction === 'up' ? other.member < site.member : other.member > site.member;
        if (!reads || other.table !== site.table) continue;
        for (const change of await changesOf(other)) {
          if (!change.directions.includes(read.direction)) continue;
          if (read.own !== undefined && change.chained === read.own) continue;
          for (const column of change.columns) {
            if (!(await mentionsColumn(read.sql, column))) continue;
            throw new InputError(
              `${where(site)}.${read.field}: names column "${column}" of "${site.tableName}", which ${where(other)} ${change.verb}; as one version, \`${read.direction}\` would read the row as it is ${read.direction === 'up' ? `before ${other.file}` : `after ${other.file}`}, not as this file expects. Migrate without --as-one, or write both changes in one migration`,
            );
          }
        }
      }
    }
  }
  return {
    migration: {
      name: last.migration.name,
      versionSchema: last.migration.versionSchema,
      operations: sites.map((s) => s.operation),
    },
    sources: sites.map(({ file, index }) => ({ file, index })),
  };
}

/** An operation of the whole, with the table it works on followed through renames. */
interface Site extends OperationSource {
  operation: Operation;
  /** The member's position in file order. */
  member: number;
  /** The table's identity across renames (undefined: no single table). */
  table: number | undefined;
  tableName: string;
  /** The table is made by a create_table of the whole. */
  created: boolean;
}

function where(site: Site): string {
  return `${site.file}: operations[${site.index}].${site.operation.kind}`;
}

function sitesOf(members: MemberMigration[]): Site[] {
  const ids = new Map<string, number>();
  const created = new Set<number>();
  let next = 0;
  const fresh = (name: string) => {
    ids.set(name, next);
    return next++;
  };
  const idOf = (name: string) => ids.get(name) ?? fresh(name);
  const sites: Site[] = [];
  for (const [member, { migration, file }] of members.entries()) {
    for (const [index, operation] of migration.operations.entries()) {
      const o = operation.options as { table?: unknown };
      let table: number | undefined;
      let tableName = '';
      if (operation.kind === 'create_table') created.add(fresh(operation.options.name));
      else if (operation.kind === 'rename_table') {
        ids.set(operation.options.to, idOf(operation.options.from));
      } else if (typeof o.table === 'string') {
        table = idOf(o.table);
        tableName = o.table;
      }
      const made = table !== undefined && created.has(table);
      sites.push({ file, index, operation, member, table, tableName, created: made });
    }
  }
  return sites;
}

/** An `up` or `down` expression of an operation, over the row of the version before it
 *  (`up`) or after it (`down`). `own`: the column an alter_column changes, by that name, whose
 *  chain of alter_columns the planner composes (planner/alter-column-merge.ts). */
interface Read {
  field: string;
  sql: string;
  direction: 'up' | 'down';
  own?: string;
}

async function readsOf({ operation }: Site): Promise<Read[]> {
  const map = (field: 'up' | 'down', values: Record<string, string> | undefined): Read[] =>
    Object.entries(values ?? {}).map(([column, sql]) => ({
      field: `${field}.${column}`,
      sql,
      direction: field,
    }));
  const one = (field: 'up' | 'down', sql: string | undefined, own?: string): Read[] =>
    sql === undefined ? [] : [{ field, sql, direction: field, ...(own ? { own } : {}) }];
  switch (operation.kind) {
    case 'add_column':
      return one('up', operation.options.up);
    case 'alter_column': {
      const o = operation.options;
      return [...one('up', o.up, o.column), ...one('down', o.down, o.name ?? o.column)];
    }
    case 'drop_column':
      return one('down', operation.options.down);
    case 'drop_constraint':
      return [...one('up', operation.options.up), ...one('down', operation.options.down)];
    case 'create_constraint':
    case 'drop_multicolumn_constraint':
      return [...map('up', operation.options.up), ...map('down', operation.options.down)];
    default:
      return [];
  }
}

/**
 * Columns whose values an operation makes differ between the version before it and the one
 * after, and in which direction: `up` when the new version's value is not the old one's as it
 * is (a new column, name or type, an `up` that computes something), `down` when the old
 * version's value is not the new one's as it is. A read in one direction is concerned only by
 * changes in that direction. `chained`: an alter_column's column by its new name, for the next
 * alter_column of it.
 */
interface Change {
  columns: string[];
  verb: string;
  directions: Direction[];
  chained?: string;
}

type Direction = 'up' | 'down';
const BOTH: Direction[] = ['up', 'down'];

async function changesOf({ operation }: Site): Promise<Change[]> {
  /** The directions in which `up`/`down` of `column` compute a value other than the column's. */
  const computing = async (column: string, up?: string, down?: string): Promise<Direction[]> => {
    const directions: Direction[] = [];
    if (up !== undefined && !(await isColumnItself(up, column))) directions.push('up');
    if (down !== undefined && !(await isColumnItself(down, column))) directions.push('down');
    return directions;
  };
  const rewritten = async (
    up: Record<string, string> | undefined,
    down: Record<string, string> | undefined,
  ): Promise<Change[]> => {
    const changes: Change[] = [];
    for (const column of new Set([...Object.keys(up ?? {}), ...Object.keys(down ?? {})])) {
      const directions = await computing(column, up?.[column], down?.[column]);
      if (directions.length > 0) changes.push({ columns: [column], verb: 'rewrites', directions });
    }
    return changes;
  };
  switch (operation.kind) {
    case 'add_column':
      return [{ columns: [operation.options.column.name], verb: 'adds', directions: BOTH }];
    case 'alter_column': {
      const o = operation.options;
      const renamed = o.name !== undefined && o.name !== o.column;
      const directions =
        renamed || o.type !== undefined
          ? BOTH
          : await computing(o.column, o.up, o.down === undefined ? undefined : o.down);
      if (directions.length === 0) return [];
      return [
        {
          columns: renamed ? [o.column, o.name as string] : [o.column],
          verb: renamed ? 'renames' : 'changes',
          directions,
          chained: o.name ?? o.column,
        },
      ];
    }
    case 'rename_column':
      return [
        {
          columns: [operation.options.from, operation.options.to],
          verb: 'renames',
          directions: BOTH,
        },
      ];
    case 'drop_column':
      return [{ columns: [operation.options.column], verb: 'drops', directions: BOTH }];
    case 'create_constraint':
    case 'drop_multicolumn_constraint':
      return rewritten(operation.options.up, operation.options.down);
    case 'drop_constraint': {
      // Its column is known only to the database: any column its `up` or `down` names, unless
      // they keep its value as it is.
      const { up, down } = operation.options;
      const changes: Change[] = [];
      for (const column of [...(await identifiersIn(`${up} ${down}`))]) {
        if (!(await mentionsColumn(`${up} ${down}`, column))) continue;
        const directions = await computing(column, up, down);
        if (directions.length > 0)
          changes.push({ columns: [column], verb: 'rewrites', directions });
      }
      return changes;
    }
    default:
      return [];
  }
}
