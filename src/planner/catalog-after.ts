import type {
  ColumnInfo,
  ConstraintInfo,
  IndexInfo,
  SchemaInfo,
  TableInfo,
} from '../catalog/types.js';
import { currentConstraintName } from '../model/constraint-names.js';
import { parenthesize, renameColumnInExpression } from '../model/expressions.js';
import { defaultObjectName, SYNC_TRIGGER } from '../model/names.js';
import type {
  PlannedColumn,
  PlannedConstraint,
  PlannedTable,
  VersionModel,
} from '../model/version-model.js';
import { noDefault } from '../operations/alter-column.js';
import { ident, literal, qualifiedName } from '../pg/quote.js';
import { columnAddedTo } from './column-limit.js';
import type { MigrationPlan } from './plan.js';

/** The catalog a migration leaves once it completes, and which of its tables are still the live
 *  database's as they are now. */
export interface CatalogAfter {
  catalog: SchemaInfo;
  /** Tables no step of the migration touches, under the name the live database has them. */
  liveTables: Set<string>;
}

/**
 * The catalog as it will be once a planned migration completes, for planning the migration
 * after it before either runs (planner/pending.ts). From the migration's model: tables and
 * columns under their final names, with the types, nullability and defaults of the new version;
 * the constraints and indexes of the catalog that stay, renamed as the migration renames them
 * and gone with their columns; and those the operations create, named as PostgreSQL will name
 * them. Definitions (used to build statements, not to decide) name the final columns.
 */
export async function catalogAfter(
  model: VersionModel,
  plan: MigrationPlan,
  /** The role tidal connects as: it will own the tables the migration creates. */
  role: string,
): Promise<CatalogAfter> {
  const steps = [...plan.start, ...plan.afterBackfill, ...plan.complete];
  const touched = new Set(steps.flatMap((s) => (s.table ? [s.table.name] : [])));
  // Columns added (new ones, copies, the backfill's mark) keep their attribute numbers once
  // complete drops what they replace: the column limit counts them.
  const added = new Map<string, number>();
  for (const step of steps) {
    const table = columnAddedTo(step);
    if (table !== undefined) added.set(table, (added.get(table) ?? 0) + 1);
  }
  const tables = model.versionTables();
  const fromCatalog = new Map(tables.filter((t) => !t.created).map((t) => [t.physical, t]));
  const catalog: SchemaInfo = { schema: model.schema, tables: new Map() };
  const liveTables = new Set<string>();
  for (const table of tables) {
    const before = table.created ? undefined : model.catalog.tables.get(table.physical);
    const renames = columnRenames(model, table);
    const catalogNames = new Map(
      [...model.columnsByCatalogName(table)].map(([name, column]) => [column, name]),
    );
    const constraints = [
      ...(await keptConstraints(model, table, before, fromCatalog, renames)),
      ...createdConstraints(model, table),
    ];
    const indexes = [
      ...(await keptIndexes(model, table, before, renames)),
      ...createdIndexes(model, table),
    ];
    const info: TableInfo = {
      schema: model.schema,
      name: table.name,
      oid: before?.oid ?? 0,
      kind: before?.kind ?? 'r',
      comment: before?.comment ?? null,
      columns: table.columns.map((c, i) => columnAfter(table, c, i, before, catalogNames.get(c))),
      constraints: constraints.sort(byName),
      indexes: indexes.sort(byName),
      triggers: before?.triggers.filter((t) => t.name !== SYNC_TRIGGER) ?? [],
      beforeUpdateTriggers: before?.beforeUpdateTriggers.filter((t) => t !== SYNC_TRIGGER) ?? [],
      replicaIdentity: before?.replicaIdentity ?? 'd',
      owner: before?.owner ?? role,
      rowSecurity: table.rowSecurity ?? false,
      grants: table.grants ?? [],
      ...attributesAfter(table, before, added.get(table.physical) ?? 0),
      estimatedRows: before?.estimatedRows ?? 0,
    };
    catalog.tables.set(info.name, info);
    const untouched = before && !touched.has(table.physical) && table.name === table.physical;
    if (untouched && model.isLive(table.physical)) liveTables.add(table.name);
  }
  return { catalog, liveTables };
}

/** The attribute numbers a table uses after complete, and how many are dropped columns'. A table
 *  the migration creates is counted by its columns alone (one it also drops columns of, which
 *  no one writes, has more: start refuses then, when its turn comes). */
function attributesAfter(
  table: PlannedTable,
  before: TableInfo | undefined,
  added: number,
): Pick<TableInfo, 'attributes' | 'droppedColumns'> {
  const attributes = Math.max(before ? before.attributes + added : 0, table.columns.length);
  return { attributes, droppedColumns: attributes - table.columns.length };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A column after complete, which gives the table the new version's default and comment. */
function columnAfter(
  table: PlannedTable,
  c: PlannedColumn,
  i: number,
  before: TableInfo | undefined,
  catalogName: string | undefined,
): ColumnInfo {
  const was = before?.columns.find((col) => col.name === catalogName);
  const comment = was?.comment ?? null;
  const sequence = defaultObjectName(table.name, c.name, 'seq', () => false);
  const serialDefault = c.serial ? `nextval(${literal(sequence)}::regclass)` : null;
  return {
    name: c.name,
    attnum: i + 1,
    type: c.type,
    // A column of a new type takes that type's default collation, which planning does not know.
    collation: was && was.type === c.type ? was.collation : null,
    nullable: c.nullable,
    default:
      c.viewDefault === undefined
        ? (c.default ?? serialDefault)
        : c.viewDefault === noDefault(c.type)
          ? null
          : c.viewDefault,
    identity: c.identity,
    generated: c.generated,
    comment: c.viewComment !== undefined ? c.viewComment : comment,
    grants: c.grants ?? [],
  };
}

/** The catalog's column names of a table that end up with another name. */
function columnRenames(model: VersionModel, table: PlannedTable): Map<string, string> {
  const renames = new Map<string, string>();
  for (const [catalogName, column] of model.columnsByCatalogName(table))
    if (catalogName !== column.name) renames.set(catalogName, column.name);
  return renames;
}

/** `sql` with the columns renamed, all at once (so a swap of two names stays a swap). */
async function renameColumns(sql: string, renames: Map<string, string>): Promise<string> {
  const pairs = [...renames];
  const placeholder = (i: number) => `_tidal_renamed_column_${i}_`;
  for (const [i, [from]] of pairs.entries())
    sql = await renameColumnInExpression(sql, from, placeholder(i));
  for (const [i, [, to]] of pairs.entries())
    sql = await renameColumnInExpression(sql, placeholder(i), to);
  return sql;
}

/** The catalog's constraints of a table that the migration keeps: not dropped, every column
 *  (and referenced column) still there; under their names after the migration. */
async function keptConstraints(
  model: VersionModel,
  table: PlannedTable,
  before: TableInfo | undefined,
  fromCatalog: Map<string, PlannedTable>,
  renames: Map<string, string>,
): Promise<ConstraintInfo[]> {
  const columns = model.columnsByCatalogName(table);
  const kept: ConstraintInfo[] = [];
  for (const c of before?.constraints ?? []) {
    const name = currentConstraintName(model, table, c.name);
    if (!table.constraintNames.has(name)) continue;
    const now = c.columns.map((k) => columns.get(k)?.name);
    if (now.some((k) => k === undefined)) continue;
    let referencedTable = c.referencedTable;
    let referencedColumns = c.referencedColumns;
    if (referencedTable?.schema === model.schema) {
      const target = fromCatalog.get(referencedTable.name);
      if (!target) continue;
      const targetColumns = model.columnsByCatalogName(target);
      const names = referencedColumns.map((k) => targetColumns.get(k)?.name);
      if (names.some((k) => k === undefined)) continue;
      referencedTable = { schema: model.schema, name: target.name };
      referencedColumns = names as string[];
    }
    kept.push({
      ...c,
      name,
      columns: now as string[],
      definition: c.type === 'c' ? await renameColumns(c.definition, renames) : c.definition,
      referencedTable,
      referencedColumns,
    });
  }
  return kept;
}

/** The catalog's indexes of a table that the migration keeps: not dropped (with their
 *  constraint, or by drop_index), every column still there. */
async function keptIndexes(
  model: VersionModel,
  table: PlannedTable,
  before: TableInfo | undefined,
  renames: Map<string, string>,
): Promise<IndexInfo[]> {
  const columns = model.columnsByCatalogName(table);
  const kept: IndexInfo[] = [];
  for (const index of before?.indexes ?? []) {
    const ofConstraint = before?.constraints.some((c) => c.name === index.name);
    const name = ofConstraint ? currentConstraintName(model, table, index.name) : index.name;
    const stays = ofConstraint ? table.constraintNames.has(name) : model.relationExists(name);
    const now = index.columns.map((k) => columns.get(k)?.name);
    if (!stays || now.some((k) => k === undefined)) continue;
    const using = index.definition.slice(index.definition.indexOf(' USING ') + 1);
    kept.push({
      ...index,
      name,
      columns: now as string[],
      definition: indexDefinition(
        model,
        table,
        name,
        index.unique,
        await renameColumns(using, renames),
      ),
    });
  }
  return kept;
}

function indexDefinition(
  model: VersionModel,
  table: PlannedTable,
  name: string,
  unique: boolean,
  using: string,
): string {
  return `CREATE ${unique ? 'UNIQUE ' : ''}INDEX ${ident(name)} ON ${qualifiedName(model.schema, table.name)} ${using}`;
}

const columnList = (columns: PlannedColumn[]) => columns.map((c) => ident(c.name)).join(', ');

/** Whether every column of a created constraint is still a column of the table. */
function present(table: PlannedTable, columns: PlannedColumn[]): boolean {
  return columns.every((c) => table.columns.includes(c));
}

/** The constraints the migration's operations create on the table, as the catalog will show
 *  them. */
function createdConstraints(model: VersionModel, table: PlannedTable): ConstraintInfo[] {
  const live = new Set(model.versionTables());
  return model
    .constraintsCreatedOn(table)
    .filter((c) => present(table, c.columns))
    .flatMap((c): ConstraintInfo[] => {
      const target = c.references;
      const references =
        target && live.has(target.table) && present(target.table, target.columns)
          ? target
          : undefined;
      return [
        {
          name: c.name,
          type: c.type,
          columns: c.columns.map((k) => k.name),
          definition: constraintDefinition(model, c, references),
          validated: true,
          referencedTable: references
            ? { schema: model.schema, name: references.table.name }
            : null,
          referencedColumns: references?.columns.map((k) => k.name) ?? [],
        },
      ];
    });
}

function constraintDefinition(
  model: VersionModel,
  c: PlannedConstraint,
  references: PlannedConstraint['references'],
): string {
  switch (c.type) {
    case 'c':
      return `CHECK ${parenthesize(c.expression ?? 'true')}`;
    case 'f':
      return `FOREIGN KEY (${columnList(c.columns)})${
        references
          ? ` REFERENCES ${qualifiedName(model.schema, references.table.name)} (${columnList(references.columns)})`
          : ''
      }`;
    case 'u':
      return `UNIQUE (${columnList(c.columns)})`;
    case 'p':
      return `PRIMARY KEY (${columnList(c.columns)})`;
    case 'x':
      return `EXCLUDE (${c.expression ?? ''})`;
  }
}

/** The indexes the migration's operations create on the table: create_index's, and those of the
 *  unique, primary key and exclusion constraints they create (named like the constraint). */
function createdIndexes(model: VersionModel, table: PlannedTable): IndexInfo[] {
  const ofConstraints = model
    .constraintsCreatedOn(table)
    .filter((c) => c.type === 'u' || c.type === 'p' || c.type === 'x')
    .filter((c) => present(table, c.columns))
    .map(
      (c): IndexInfo => ({
        name: c.name,
        unique: c.type !== 'x',
        primary: c.type === 'p',
        valid: true,
        definition: indexDefinition(
          model,
          table,
          c.name,
          c.type !== 'x',
          c.type === 'x'
            ? `USING gist (${c.expression ?? ''})`
            : `USING btree (${columnList(c.columns)})`,
        ),
        columns: c.columns.map((k) => k.name),
        keyColumns: c.columns.length,
        plain: c.type !== 'x',
      }),
    );
  const created = model
    .indexesCreatedOn(table)
    .filter((i) => present(table, i.columns))
    .map(
      (i): IndexInfo => ({
        name: i.name,
        unique: i.unique,
        primary: false,
        valid: true,
        definition: indexDefinition(
          model,
          table,
          i.name,
          i.unique,
          `USING ${i.method} (${columnList(i.columns)})${i.predicate ? ` WHERE ${parenthesize(i.predicate)}` : ''}`,
        ),
        columns: i.columns.map((k) => k.name),
        keyColumns: i.columns.length,
        plain: i.predicate === undefined,
      }),
    );
  return [...ofConstraints, ...created];
}
