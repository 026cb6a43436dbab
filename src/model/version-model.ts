import type { ColumnInfo, ConstraintInfo, Grant, SchemaInfo, TableInfo } from '../catalog/types.js';
import { InputError } from '../errors.js';

/** A column as the new version shows it. */
export interface PlannedColumn {
  /** Name in the new version. */
  name: string;
  /** Physical column holding the data. */
  physical: string;
  type: string;
  nullable: boolean;
  default: string | null;
  identity: ColumnInfo['identity'];
  generated: ColumnInfo['generated'];
  /** Added by this migration (so its physical column has a temporary name until complete). */
  added: boolean;
  /** Declared `serial` by this migration: the table gives it a sequence's next value by default. */
  serial?: boolean;
  /** A copy made by an earlier alter_column or create_constraint of this migration. */
  copied?: boolean;
  /** For a copy: the old version's physical column it replaces at complete. */
  copyOf?: string;
  /** The new version's default where it differs from the table's until complete (null: none). */
  viewDefault?: string | null;
  /** The new version's comment where it differs from the table's until complete. */
  viewComment?: string | null;
  /** Privileges granted on the column alone, as the catalog had them (a copy keeps them). */
  grants?: Grant[];
  /** Start put `default` on the table itself (ADD COLUMN ... DEFAULT gives it to the existing
   *  rows); while a dual-write trigger runs, the new version's view holds it instead. */
  defaultOnTable?: boolean;
}

/** A table as the new version shows it. */
export interface PlannedTable {
  /** Name in the new version. */
  name: string;
  /** Physical table name while the migration is active (complete may rename it). */
  physical: string;
  /** Created by this migration: the old version has no such table. */
  created: boolean;
  columns: PlannedColumn[];
  /** Physical columns of the table before the migration (the old version's names). */
  oldColumns: ColumnInfo[];
  /** Primary key columns, physical names. */
  primaryKey: string[];
  /** Columns the backfill walks existing rows by, in order: the primary key, else a unique key
   *  of NOT NULL columns, as the catalog had them before the migration. Empty when there is no
   *  such key: the backfill then walks the table by physical location (ctid ranges). */
  walkKey: string[];
  /** Constraint names on the table, for collision checks. */
  constraintNames: Set<string>;
  /** Privileges on the whole table, as the catalog had them; its views carry them. */
  grants?: Grant[];
  /** Row-level security is enabled on it. */
  rowSecurity?: boolean;
}

/**
 * A constraint an operation of the migration creates, as the catalog holds it once the migration
 * completes. Columns and the referenced table are the planned objects, so renames later in the
 * migration follow; planning the migrations after this one starts from it (planner/catalog-after.ts).
 */
export interface PlannedConstraint {
  name: string;
  /** As pg_constraint.contype: primary key, unique, check, foreign key, exclusion. */
  type: 'p' | 'u' | 'c' | 'f' | 'x';
  /** Key columns; for a check or an exclusion, the columns its expression names. */
  columns: PlannedColumn[];
  /** A check's expression, or an exclusion's elements, as written. */
  expression?: string;
  /** A foreign key's target, where it is a table of the schema. */
  references?: { table: PlannedTable; columns: PlannedColumn[] };
}

/** An index create_index makes, as the catalog holds it once the migration completes. */
export interface PlannedIndex {
  name: string;
  method: string;
  unique: boolean;
  columns: PlannedColumn[];
  predicate?: string;
}

/** One column the dual-write trigger sets, from an expression over the writing version's row. */
export interface SyncAssignment {
  /** The physical column set. */
  column: string;
  expression: string;
  /** Set when the two versions hold the column in different types (a copy with a new type): a
   *  value one version writes may not fit the other's column, and the trigger says so. */
  typeChange?: { name: string; oldType: string; newType: string };
  /** Set when `expression` is the column's default, not an `up`: the column gets it only while
   *  a row has none (an insert, or a row the backfill has not reached), so an update by the
   *  old version never overwrites what the new version wrote. */
  defaultOnly?: boolean;
}

/** Per table: what the dual-write trigger computes. Expressions use the writing version's names. */
export interface SyncSpec {
  /** Set when the old version writes: a physical column of the new version. */
  up: SyncAssignment[];
  /** Set when the new version writes: a physical column only the old version shows. */
  down: SyncAssignment[];
}

/** Per table: which physical columns the backfill fills, from which expression over old names. */
export interface BackfillSpec {
  table: string;
  key: string[];
  /** Physical column, its name in the new version (for messages), and `up`. */
  set: { column: string; name?: string; expression: string }[];
}

/** A column of the new version: its physical column, and a default or comment of its own. */
export interface OverlayColumn {
  name: string;
  physical: string;
  default?: string | null;
  comment?: string | null;
}

/** How the new version maps onto physical tables, stored with the plan so views can be built
 *  from the live catalog when start runs (tables made by raw SQL appear as they are). */
export interface VersionOverlay {
  /** Tables whose new-version shape differs from the catalog, by physical name. */
  tables: Record<string, { name: string; columns: OverlayColumn[] }>;
  /** Physical tables the new version no longer shows. */
  dropped: string[];
}

/** A foreign key of a table of the schema, and that table (the catalog's, before the migration). */
export interface ReferencingKey {
  table: TableInfo;
  key: ConstraintInfo;
}

/**
 * The new version of one application schema as planning goes from operation to operation.
 * Starts as the catalog (where physical and logical names agree, since any earlier migration
 * completed) and records each operation's effect on names, columns and tables.
 */
export class VersionModel {
  private readonly tables = new Map<string, PlannedTable>();
  private readonly droppedPhysical = new Set<string>();
  private readonly touched = new Set<string>();
  /** Relation names taken in the schema (tables and indexes), for collision checks. */
  private readonly relationNames = new Set<string>();
  /** The catalog's tables by index name. */
  private readonly indexTables = new Map<string, TableInfo>();
  /** The catalog's foreign keys by the table of this schema they reference; made when asked. */
  private referencingKeys: Map<string, ReferencingKey[]> | undefined;
  readonly sync = new Map<string, SyncSpec>();
  readonly backfills = new Map<string, BackfillSpec>();
  /** Per physical table: a constraint's current name -> its name in the catalog, for the
   *  constraints this migration renames (rename_constraint). */
  readonly constraintRenames = new Map<string, Map<string, string>>();
  /** Each column of the catalog's tables, to the catalog's name for it (copies keep the object). */
  private readonly catalogNames = new WeakMap<PlannedColumn, string>();
  private readonly createdConstraints = new Map<PlannedTable, PlannedConstraint[]>();
  private readonly createdIndexes = new Map<PlannedTable, PlannedIndex[]>();

  /**
   * `liveTables`: when the catalog is not the live database's but the one earlier migrations,
   * not run yet, will leave (planner/pending.ts), the tables of it the live database has under
   * that name and in that shape now. Checks that look things up in the live database look up
   * only these; for the others they cannot know, so they let the operation through.
   */
  constructor(
    readonly catalog: SchemaInfo,
    private readonly liveTables?: ReadonlySet<string>,
  ) {
    for (const info of catalog.tables.values()) {
      const table = plannedFromCatalog(info);
      for (const column of table.columns) this.catalogNames.set(column, column.physical);
      this.tables.set(info.name, table);
      this.relationNames.add(info.name);
      for (const index of info.indexes) {
        this.relationNames.add(index.name);
        if (!this.indexTables.has(index.name)) this.indexTables.set(index.name, info);
      }
    }
  }

  /** Whether the catalog is the live database's, as planning a migration on its own reads it. */
  get catalogIsLive(): boolean {
    return this.liveTables === undefined;
  }

  /** Whether the catalog's table `physical` is the live database's table of that name, as it is
   *  now: what a query of the live database about it says holds for the catalog too. */
  isLive(physical: string): boolean {
    return this.catalog.tables.has(physical) && (this.liveTables?.has(physical) ?? true);
  }

  /** The columns of `table` that were in the catalog, by the catalog's name. */
  columnsByCatalogName(table: PlannedTable): Map<string, PlannedColumn> {
    const columns = new Map<string, PlannedColumn>();
    for (const column of table.columns) {
      const name = this.catalogNames.get(column);
      if (name !== undefined) columns.set(name, column);
    }
    return columns;
  }

  /** Records a constraint an operation creates, for the catalog after this migration. */
  recordConstraint(table: PlannedTable, constraint: PlannedConstraint): void {
    const list = this.createdConstraints.get(table) ?? [];
    list.push(constraint);
    this.createdConstraints.set(table, list);
  }

  constraintsCreatedOn(table: PlannedTable): readonly PlannedConstraint[] {
    return this.createdConstraints.get(table) ?? [];
  }

  /** Records an index create_index makes, for the catalog after this migration. */
  recordIndex(table: PlannedTable, index: PlannedIndex): void {
    const list = this.createdIndexes.get(table) ?? [];
    list.push(index);
    this.createdIndexes.set(table, list);
  }

  indexesCreatedOn(table: PlannedTable): readonly PlannedIndex[] {
    return this.createdIndexes.get(table) ?? [];
  }

  get schema(): string {
    return this.catalog.schema;
  }

  /** The table the new version calls `name`. */
  table(name: string): PlannedTable | undefined {
    return this.tables.get(name);
  }

  /** Like `table`, but a missing table is bad input naming `where`. */
  requireTable(name: string, where: string): PlannedTable {
    const table = this.tables.get(name);
    if (!table)
      throw new InputError(`${where}: table "${name}" does not exist in schema "${this.schema}"`);
    return table;
  }

  requireColumn(table: PlannedTable, name: string, where: string): PlannedColumn {
    const column = table.columns.find((c) => c.name === name);
    if (!column)
      throw new InputError(`${where}: column "${name}" does not exist on table "${table.name}"`);
    return column;
  }

  /** The physical table a migration changes from now on: its view is rebuilt from the plan. */
  touch(table: PlannedTable): void {
    this.touched.add(table.physical);
  }

  relationExists(name: string): boolean {
    return this.relationNames.has(name) || this.tables.has(name);
  }

  addRelationName(name: string): void {
    this.relationNames.add(name);
  }

  removeRelationName(name: string): void {
    this.relationNames.delete(name);
  }

  /** The catalog's table of an index of the schema. */
  indexTable(indexName: string): TableInfo | undefined {
    return this.indexTables.get(indexName);
  }

  /** The foreign keys in the catalog that reference the table of this schema named `physical`. */
  foreignKeysReferencing(physical: string): readonly ReferencingKey[] {
    if (!this.referencingKeys) {
      this.referencingKeys = new Map();
      for (const table of this.catalog.tables.values()) {
        for (const key of table.constraints) {
          const target = key.referencedTable;
          if (key.type !== 'f' || target?.schema !== this.schema) continue;
          const keys = this.referencingKeys.get(target.name) ?? [];
          keys.push({ table, key });
          this.referencingKeys.set(target.name, keys);
        }
      }
    }
    return this.referencingKeys.get(physical) ?? [];
  }

  /** Whether the new version still shows the catalog's table `physical` (under any name). */
  showsCatalogTable(physical: string): boolean {
    return this.catalog.tables.has(physical) && !this.droppedPhysical.has(physical);
  }

  addTable(table: PlannedTable): void {
    this.tables.set(table.name, table);
    this.relationNames.add(table.name);
  }

  renameTable(table: PlannedTable, to: string): void {
    this.tables.delete(table.name);
    table.name = to;
    this.tables.set(to, table);
    this.touch(table);
  }

  dropTable(table: PlannedTable): void {
    this.tables.delete(table.name);
    this.droppedPhysical.add(table.physical);
  }

  syncFor(physicalTable: string): SyncSpec {
    let spec = this.sync.get(physicalTable);
    if (!spec) {
      spec = { up: [], down: [] };
      this.sync.set(physicalTable, spec);
    }
    return spec;
  }

  backfillFor(table: PlannedTable): BackfillSpec {
    let spec = this.backfills.get(table.physical);
    if (!spec) {
      spec = { table: table.physical, key: table.walkKey, set: [] };
      this.backfills.set(table.physical, spec);
    }
    return spec;
  }

  /** The migration drops the unique key the backfill would walk by (before the backfill runs):
   *  walk by physical location instead. */
  dropWalkKey(table: PlannedTable): void {
    table.walkKey = [];
    const spec = this.backfills.get(table.physical);
    if (spec) spec.key = [];
  }

  /** Tables as the new version shows them. */
  versionTables(): PlannedTable[] {
    return [...this.tables.values()];
  }

  overlay(): VersionOverlay {
    const tables: VersionOverlay['tables'] = {};
    for (const table of this.tables.values()) {
      if (!this.touched.has(table.physical)) continue;
      tables[table.physical] = {
        name: table.name,
        columns: table.columns.map((c) => ({
          name: c.name,
          physical: c.physical,
          ...(c.viewDefault !== undefined ? { default: c.viewDefault } : {}),
          ...(c.viewComment !== undefined ? { comment: c.viewComment } : {}),
        })),
      };
    }
    return { tables, dropped: [...this.droppedPhysical] };
  }
}

/** A table as the catalog has it. Planning runs with no migration active, so every column is
 *  the application's, whatever its name (tidal's own exist only while a migration is). */
function plannedFromCatalog(info: TableInfo): PlannedTable {
  const columns = info.columns;
  return {
    name: info.name,
    physical: info.name,
    created: false,
    columns: columns.map((c) => ({
      name: c.name,
      physical: c.name,
      type: c.type,
      nullable: c.nullable,
      default: c.default,
      identity: c.identity,
      generated: c.generated,
      added: false,
      grants: c.grants,
    })),
    oldColumns: columns,
    grants: info.grants,
    rowSecurity: info.rowSecurity,
    primaryKey: info.constraints.find((c) => c.type === 'p')?.columns ?? [],
    walkKey: walkKeyOf(info),
    constraintNames: new Set(info.constraints.map((c) => c.name)),
  };
}

/** The primary key, else the unique index with the fewest columns, all NOT NULL, with no
 *  predicate or expression: keyset pagination over it visits every row exactly once. */
function walkKeyOf(info: TableInfo): string[] {
  const primary = info.constraints.find((c) => c.type === 'p');
  if (primary) return primary.columns;
  const notNull = new Set(info.columns.filter((c) => !c.nullable).map((c) => c.name));
  const keys = info.indexes
    .filter((i) => i.unique && i.valid && i.plain)
    .map((i) => i.columns.slice(0, i.keyColumns))
    .filter((columns) => columns.every((c) => notNull.has(c)))
    .sort((a, b) => a.length - b.length);
  return keys[0] ?? [];
}
