import { readSchema, serverMajor, viewColumns } from '../catalog/read.js';
import type { Grant, SchemaInfo } from '../catalog/types.js';
import { granteeName, grantStatements } from '../model/grants.js';
import { doBlock } from '../model/sql-fragments.js';
import { catalogStep, type Step } from '../model/step.js';
import type { PlannedTable, VersionOverlay } from '../model/version-model.js';
import type { Queryable } from '../pg/queryable.js';
import { ident, literal, qualifiedName } from '../pg/quote.js';

/** One view of a version schema: a table under the version's names, with its privileges. */
export interface ViewSpec {
  name: string;
  physical: string;
  columns: {
    name: string;
    physical: string;
    default: string | null;
    comment?: string | null;
    /** Privileges on the column alone, granted on the view's column. */
    grants?: Grant[];
  }[];
  /** Privileges on the table, granted on the view. */
  grants?: Grant[];
  /** Row-level security is enabled on the table. */
  rowSecurity?: boolean;
}

/** The views of a version, from the live catalog and the overlay the plan recorded. Tables the
 *  plan did not touch (including ones raw SQL made) show as they are, every column: tidal's own
 *  columns are only on tables the plan touched, whose columns the overlay lists. */
export function viewsFromCatalog(catalog: SchemaInfo, overlay: VersionOverlay): ViewSpec[] {
  const dropped = new Set(overlay.dropped);
  const views: ViewSpec[] = [];
  for (const table of catalog.tables.values()) {
    if (dropped.has(table.name)) continue;
    // Generated columns hold their expression where defaults live; a view cannot carry it.
    const defaults = new Map(table.columns.map((c) => [c.name, c.generated ? null : c.default]));
    const grants = new Map(table.columns.map((c) => [c.name, c.grants]));
    const planned = overlay.tables[table.name];
    const columns = planned
      ? planned.columns
          .filter((c) => defaults.has(c.physical))
          .map((c) => ({
            ...c,
            default: c.default !== undefined ? c.default : (defaults.get(c.physical) ?? null),
            grants: grants.get(c.physical),
          }))
      : table.columns.map((c) => ({
          name: c.name,
          physical: c.name,
          default: defaults.get(c.name) ?? null,
          grants: c.grants,
        }));
    views.push({
      name: planned?.name ?? table.name,
      physical: table.name,
      columns,
      grants: table.grants,
      rowSecurity: table.rowSecurity,
    });
  }
  return views;
}

/** The views of a version as planning sees them (for `plan`, before anything runs). */
export function viewsFromModel(tables: PlannedTable[]): ViewSpec[] {
  return tables.map((t) => ({
    name: t.name,
    physical: t.physical,
    columns: t.columns.map((c) => ({
      name: c.name,
      physical: c.physical,
      default: c.generated ? null : c.viewDefault !== undefined ? c.viewDefault : c.default,
      ...(c.viewComment !== undefined ? { comment: c.viewComment } : {}),
      grants: c.grants,
    })),
    grants: t.grants,
    rowSecurity: t.rowSecurity,
  }));
}

/**
 * Steps that create a version schema: one view per table, with the table's column defaults so an
 * INSERT through the view (DEFAULT included) behaves like one into the table. On PostgreSQL 15+
 * the view of a table with row-level security is security_invoker, so its policies apply
 * through it. Other views check the privileges of the view, not of the table: every role that
 * may use a table gets the same on its view (column privileges under the view's column names),
 * and USAGE on the schema with it. (A security_invoker view would check every column it shows
 * on the table, so a role with column privileges could not use it at all.)
 * Idempotent: CREATE OR REPLACE lets a resumed start run them again.
 */
export function versionSchemaSteps(
  schema: string,
  versionSchema: string,
  views: ViewSpec[],
  serverMajor: number,
): Step[] {
  const steps: Step[] = [
    catalogStep(
      `CREATE SCHEMA IF NOT EXISTS ${ident(versionSchema)}`,
      `create version schema "${versionSchema}"`,
    ),
  ];
  for (const view of views) {
    const options = serverMajor >= 15 && view.rowSecurity ? ' WITH (security_invoker = true)' : '';
    const select = view.columns.map((c) =>
      c.name === c.physical ? ident(c.name) : `${ident(c.physical)} AS ${ident(c.name)}`,
    );
    const qualifiedView = qualifiedName(versionSchema, view.name);
    steps.push({
      ...catalogStep(
        `CREATE OR REPLACE VIEW ${qualifiedView}${options} AS SELECT ${select.join(', ')} FROM ${qualifiedName(schema, view.physical)}`,
        `create view "${versionSchema}"."${view.name}"`,
        'AccessShare',
      ),
      table: { schema, name: view.physical },
    });
    for (const c of view.columns) {
      if (c.comment) {
        steps.push(
          catalogStep(
            `COMMENT ON COLUMN ${qualifiedView}.${ident(c.name)} IS ${literal(c.comment)}`,
            `comment on view column "${view.name}"."${c.name}"`,
          ),
        );
      }
      if (c.default === null) continue;
      steps.push(
        catalogStep(
          `ALTER VIEW ${qualifiedView} ALTER COLUMN ${ident(c.name)} SET DEFAULT ${c.default}`,
          `give view column "${view.name}"."${c.name}" the table's default`,
        ),
      );
    }
    const columnGrants = view.columns.map((c) => ({ name: c.name, grants: c.grants ?? [] }));
    for (const sql of grantStatements(qualifiedView, view.grants ?? [], columnGrants)) {
      steps.push(catalogStep(sql, `give view "${view.name}" the privileges of its table`));
    }
  }
  // Without USAGE on the schema PostgreSQL skips it on search_path without a word.
  const roles = new Set<string | null>();
  for (const view of views) {
    for (const g of [...(view.grants ?? []), ...view.columns.flatMap((c) => c.grants ?? [])])
      roles.add(g.grantee);
  }
  if (roles.size > 0) {
    steps.push(
      catalogStep(
        `GRANT USAGE ON SCHEMA ${ident(versionSchema)} TO ${[...roles].map(granteeName).join(', ')}`,
        `let every role that may use a table use version schema "${versionSchema}"`,
      ),
    );
  }
  return steps;
}

export function dropVersionSchemaStep(versionSchema: string): Step {
  return catalogStep(
    `DROP SCHEMA IF EXISTS ${ident(versionSchema)} CASCADE`,
    `drop version schema "${versionSchema}"`,
  );
}

/** Steps that make the version schema once start's steps have run: the tables as they now are,
 *  under the names `overlay` (the plan's) gives them. */
export async function versionSchemaStepsAtStart(
  db: Queryable,
  schema: string,
  versionSchema: string,
  overlay: VersionOverlay,
): Promise<Step[]> {
  const views = viewsFromCatalog(await readSchema(db, schema), overlay);
  return versionSchemaSteps(schema, versionSchema, views, await serverMajor(db));
}

const NO_OVERLAY: VersionOverlay = { tables: {}, dropped: [] };

/**
 * After complete, the version schema shows the tables as they now are (raw SQL run on complete
 * may have changed them): the steps that remake the views whose columns differ, none if none do.
 */
export async function versionSchemaRefreshSteps(
  db: Queryable,
  schema: string,
  versionSchema: string,
): Promise<Step[]> {
  const catalog = await readSchema(db, schema);
  const major = await serverMajor(db);
  // Only a view whose set of columns differs is remade (raw SQL added or dropped one): a view
  // follows renames by itself, and the order of its columns does not matter.
  const columnSet = (names: string[]) => [...names].sort().join('\u0000');
  const current = new Map(
    [...(await viewColumns(db, versionSchema))].map(([view, columns]) => [
      view,
      columnSet(columns),
    ]),
  );
  const views = viewsFromCatalog(catalog, NO_OVERLAY).filter(
    (v) => current.get(v.name) !== columnSet(v.columns.map((c) => c.name)),
  );
  return views.flatMap((view) => {
    const steps = versionSchemaSteps(schema, versionSchema, [view], major);
    const create = steps[1];
    if (create && current.has(view.name)) {
      // Dropped and made again in one statement: the new version never finds it missing.
      steps[1] = {
        ...create,
        sql: doBlock(
          `DROP VIEW IF EXISTS ${qualifiedName(versionSchema, view.name)}; ${create.sql};`,
        ),
        summary: `replace view "${versionSchema}"."${view.name}"`,
      };
    }
    return steps;
  });
}
