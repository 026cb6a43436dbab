import { filesAndScansQuery } from '../catalog/plan-reads.js';
import type { TableInfo } from '../catalog/types.js';
import type { AlterColumn } from '../migration/operations/alter-column.js';
import { storedType } from '../model/checks.js';
import { isColumnItself } from '../model/expressions.js';
import { CompleteStage, type CompleteStep, type PlanContext } from '../model/operation.js';
import { doBlock } from '../model/sql-fragments.js';
import { tableStep } from '../model/step.js';
import type { PlannedColumn, PlannedTable } from '../model/version-model.js';
import { ident, literal, qualifiedName } from '../pg/quote.js';
import { needsCopyColumn } from './column-copy/index.js';

/**
 * alter_column `type` without a copy column, where PostgreSQL itself changes the type in the
 * catalog only (varchar(n) to varchar(m > n) or text, numeric(p, s) to numeric(q > p, s), ...).
 *
 * Whether it does is asked of the database, not guessed: in a transaction that is rolled back, a
 * temporary copy of the table's definition (`LIKE ... INCLUDING ALL`: constraints, indexes,
 * defaults, generated columns) gets the change, and it counts as catalog-only when neither the
 * table nor any index got a new file and no scan ran (re-checking a constraint scans).
 *
 * The type changes at complete: narrowing it back on rollback would rewrite the table under an
 * exclusive lock, so until complete both versions keep the old type (the new version can write
 * the wider values once complete has run), and rollback has nothing to undo.
 */
export async function changesTypeInPlace(
  o: AlterColumn,
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
): Promise<boolean> {
  if (o.type === undefined || ctx.afterRawSql || table.created || column.added) return false;
  // Anything else that needs new data takes the copy path, type and all.
  if (needsCopyColumn({ ...o, type: undefined }, column)) return false;
  // An `up` or `down` that computes something means new values.
  if (o.up !== undefined && !(await isColumnItself(o.up, column.name))) return false;
  if (o.down !== undefined && !(await isColumnItself(o.down, o.name ?? column.name))) return false;
  // A foreign key on either side is re-checked (or refused) by PostgreSQL on a type change.
  const info = ctx.model.catalog.tables.get(table.physical);
  if (info?.constraints.some((c) => c.type === 'f' && c.columns.includes(column.physical)))
    return false;
  for (const { key } of ctx.model.foreignKeysReferencing(table.physical)) {
    if (key.referencedColumns.includes(column.physical)) return false;
  }
  const type = storedType(o.type);
  const planned = info !== undefined && !ctx.model.isLive(table.physical);
  const make = planned ? probeLikePlanned(info) : probeLikeLive(ctx, table.physical);
  const probe = () => probeInPlace(ctx, make, column.physical, type);
  if (!info) return probe();
  const of = planned ? 'planned ' : '';
  return ctx.checks.answer(
    `type in place: ${of}${shapeOf(info)} ${column.physical} ${type}`,
    probe,
  );
}

const PROBE = '_tidal_type_probe';

/** The probe as an empty copy of the live table: `LIKE ... INCLUDING ALL` (constraints,
 *  indexes, defaults, generated columns). */
function probeLikeLive(ctx: PlanContext, table: string): string[] {
  return [
    `CREATE TEMPORARY TABLE ${ident(PROBE)} (LIKE ${qualifiedName(ctx.schema, table)} INCLUDING ALL) ON COMMIT DROP`,
  ];
}

/**
 * The probe for a table earlier migrations, not run yet, create or change: the live table is
 * not the one the change will meet, so the probe is made from the table as they leave it
 * (planner/catalog-after.ts): its stand-in's columns in the checks' transaction, its validated
 * checks and its indexes (those of exclusion constraints aside). Left out, defaults and
 * exclusions can only send the real plan down the copy path where this one stays catalog-only,
 * checking less, never refusing more: what runs is planned again when its turn comes.
 */
function probeLikePlanned(info: TableInfo): string[] {
  const checks = info.constraints
    .filter((c) => c.type === 'c' && c.validated)
    .map((c) => `, CONSTRAINT ${ident(c.name)} ${c.definition}`);
  const exclusions = new Set(info.constraints.filter((c) => c.type === 'x').map((c) => c.name));
  const indexes = info.indexes.filter((i) => !exclusions.has(i.name));
  return [
    `CREATE TEMPORARY TABLE ${ident(PROBE)} (LIKE pg_temp.${ident(info.name)}${checks.join('')}) ON COMMIT DROP`,
    ...indexes.map(
      (i) =>
        `CREATE ${i.unique ? 'UNIQUE ' : ''}INDEX ON ${ident(PROBE)} ${i.definition.slice(i.definition.indexOf(' USING ') + 1)}`,
    ),
  ];
}

/**
 * Everything of a table the probe's outcome depends on, without its names: the columns (type,
 * collation, NOT NULL, default or generation expression, identity), the constraints and the
 * indexes (their definition from USING on). Tables of one shape (a table per tenant, say)
 * answer alike, so one probe serves them all.
 */
function shapeOf(info: TableInfo): string {
  return JSON.stringify([
    info.kind,
    info.columns.map((c) => [
      c.name,
      c.type,
      c.collation,
      c.nullable,
      c.default,
      c.identity,
      c.generated,
    ]),
    info.constraints.map((c) => [c.type, c.definition]),
    info.indexes.map((i) => [
      i.unique,
      i.primary,
      i.definition.slice(i.definition.indexOf(' USING ')),
    ]),
  ]);
}

/** Applies the change to an empty temporary copy of the table (`make` makes it) and watches
 *  what PostgreSQL did. */
async function probeInPlace(
  ctx: PlanContext,
  make: string[],
  column: string,
  type: string,
): Promise<boolean> {
  const state = filesAndScansQuery(PROBE);
  try {
    const results = await ctx.checks.rolledBack([
      ...make,
      state,
      `ALTER TABLE ${ident(PROBE)} ALTER COLUMN ${ident(column)} TYPE ${type}`,
      state,
    ]);
    const [before, , after] = results.slice(make.length);
    return JSON.stringify(before?.rows) === JSON.stringify(after?.rows);
  } catch {
    // Refused or not expressible without USING: the copy path decides, and explains.
    return false;
  }
}

/**
 * The complete step: the new version's views select the column, and PostgreSQL refuses to change
 * the type of a column a view uses, so in one statement (one transaction: no moment without
 * them) the views that use it are saved, dropped, the type changed, and the views made again as
 * they were, with their options, column defaults, comments and grants.
 */
export function changeTypeAtComplete(
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  type: string,
): CompleteStep {
  const t = qualifiedName(ctx.schema, table.physical);
  // At complete, earlier operations' renames have run: the column has its name as of now.
  const col = ident(column.name);
  // Aliases differ from the loop's record `v`, which PL/pgSQL would read them as.
  const views = `SELECT DISTINCT vc.oid, n.nspname, vc.relname, vc.reloptions, vc.relacl
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
      JOIN pg_catalog.pg_class vc ON vc.oid = r.ev_class AND vc.relkind = 'v'
      JOIN pg_catalog.pg_namespace n ON n.oid = vc.relnamespace
     WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refobjid = ${literal(t)}::regclass
       AND d.refobjsubid = (SELECT attnum FROM pg_catalog.pg_attribute
                             WHERE attrelid = ${literal(t)}::regclass AND attname = ${literal(column.name)})`;
  const declare = `v record; remake text[] := '{}'; statement text;`;
  const body = `
  FOR v IN ${views} LOOP
    remake := remake || format('CREATE VIEW %I.%I%s AS %s', v.nspname, v.relname,
      coalesce(' WITH (' || array_to_string(v.reloptions, ', ') || ')', ''),
      pg_catalog.pg_get_viewdef(v.oid));
    remake := remake || ARRAY(
      SELECT format('ALTER VIEW %I.%I ALTER COLUMN %I SET DEFAULT %s', v.nspname, v.relname,
                    a.attname, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))
        FROM pg_catalog.pg_attrdef ad
        JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
       WHERE ad.adrelid = v.oid);
    remake := remake || ARRAY(
      SELECT format('COMMENT ON COLUMN %I.%I.%I IS %L', v.nspname, v.relname, a.attname,
                    pg_catalog.col_description(v.oid, a.attnum))
        FROM pg_catalog.pg_attribute a
       WHERE a.attrelid = v.oid AND a.attnum > 0
         AND pg_catalog.col_description(v.oid, a.attnum) IS NOT NULL);
    remake := remake || ARRAY(
      SELECT format('GRANT %s ON %I.%I TO %s', g.privilege_type, v.nspname, v.relname,
                    CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END)
        FROM pg_catalog.aclexplode(v.relacl) g
       WHERE g.grantee <> g.grantor);
    EXECUTE format('DROP VIEW %I.%I', v.nspname, v.relname);
  END LOOP;
  ALTER TABLE ${t} ALTER COLUMN ${col} TYPE ${type};
  FOREACH statement IN ARRAY remake LOOP
    EXECUTE statement;
  END LOOP;
`;
  return {
    stage: CompleteStage.Columns,
    step: tableStep(
      { schema: ctx.schema, name: table.physical },
      'AccessExclusive',
      doBlock(body, declare),
      `change the type of "${column.name}" to ${type} (catalog only: no rewrite, no scan)`,
    ),
  };
}
