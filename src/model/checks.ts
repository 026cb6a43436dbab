import { createHash } from 'node:crypto';
import { type MissingValueRow, missingValueQuery } from '../catalog/temporary.js';
import { InputError, isConnectionLost, messageOf } from '../errors.js';
import { ident } from '../pg/quote.js';
import type { DatabaseChecks } from './database-checks.js';
import { identifiersIn, parenthesize, qualifiesWith } from './expressions.js';
import type { PlanContext } from './operation.js';

/** serial types exist only as shorthand in CREATE TABLE / ADD COLUMN. */
const SERIAL_TYPES: Record<string, string> = {
  serial: 'integer',
  serial4: 'integer',
  bigserial: 'bigint',
  serial8: 'bigint',
  smallserial: 'smallint',
  serial2: 'smallint',
};

export function isSerialType(type: string): boolean {
  return Object.hasOwn(SERIAL_TYPES, type.trim().toLowerCase());
}

/** The type a column of `type` really has (serial is integer with a sequence default). */
export function storedType(type: string): string {
  return SERIAL_TYPES[type.trim().toLowerCase()] ?? type;
}

/**
 * Whether SQL of a check (an expression, a type) names, qualified by the application schema, a
 * table that earlier migrations, not run yet, create or change: the temporary table standing in
 * for it in the checks' transaction (DatabaseChecks) comes first only for unqualified names, so
 * the check would see the table as it is now, or not at all, and is left out.
 */
async function missesStandIn(ctx: PlanContext, sql: string): Promise<boolean> {
  const { model } = ctx;
  if (model.catalogIsLive || !(await qualifiesWith(sql, ctx.schema))) return false;
  const names = await identifiersIn(sql);
  return [...names].some((name) => model.catalog.tables.has(name) && !model.isLive(name));
}

/** Checks that `type` names an existing type. */
export async function checkType(ctx: PlanContext, type: string, field: string): Promise<void> {
  if (ctx.afterRawSql || (await missesStandIn(ctx, type))) return;
  ctx.checks.add(
    `SELECT NULL::${storedType(type)}`,
    (message) => `${ctx.where}.${field}: invalid type "${type}": ${message}`,
  );
}

/**
 * Checks an expression against the database the way tidal will use it: over a row whose columns
 * have the given names and types, aliased as the table's name. Catches unknown columns, functions
 * and type mismatches before anything runs.
 */
export async function checkExpressionOver(
  ctx: PlanContext,
  expression: string,
  row: { alias: string; columns: readonly { name: string; type: string }[] },
  field: string,
  assignedTo?: { column: string; type: string },
): Promise<void> {
  if (ctx.afterRawSql) return;
  const named = await rowColumnsUsedBy(expression, row);
  const types = [...named, ...(assignedTo ? [assignedTo] : [])].map((c) => c.type);
  if (await missesStandIn(ctx, [expression, ...types].join('\n'))) return;
  const columns = named.map((c) => `NULL::${storedType(c.type)} AS ${ident(c.name)}`);
  const source = columns.length > 0 ? columns.join(', ') : 'NULL AS "?"';
  const select = `SELECT ${parenthesize(expression)} FROM (SELECT ${source}) AS ${ident(row.alias)} LIMIT 0`;
  ctx.checks.add(
    assignedTo ? assignmentCheck(select, assignedTo) : select,
    (message) => `${ctx.where}.${field}: ${message} in expression: ${expression}`,
  );
}

/**
 * `select` inserted into a column of the type its value goes to (`up` into the new version's
 * column, `down` into the old one's), as the backfill's UPDATE assigns it: a value of a type
 * that is not assignable (text into integer) is refused here, not by the backfill midway. The
 * temporary table, one per column name and type, lives until the checks' transaction rolls back.
 */
function assignmentCheck(select: string, target: { column: string; type: string }): string {
  const type = storedType(target.type);
  const table = ident(
    `_tidal_assign_${createHash('sha256').update(`${target.column}\0${type}`).digest('hex').slice(0, 12)}`,
  );
  return `CREATE TEMPORARY TABLE IF NOT EXISTS ${table} (${ident(target.column)} ${type}) ON COMMIT DROP;\nINSERT INTO ${table} (${ident(target.column)}) ${select}`;
}

/**
 * The columns of `row` an expression can refer to: those it names, or all of them when it names
 * the row itself (a whole-row reference, `alias.*`) or spells a name with Unicode escapes
 * (`U&"..."`). A check of a wide table's expression then costs what the expression does, not
 * what the table's width does.
 */
async function rowColumnsUsedBy<C extends { name: string }>(
  expression: string,
  row: { alias: string; columns: readonly C[] },
): Promise<readonly C[]> {
  const names = await identifiersIn(expression);
  if (names.has(row.alias) || /u&"/i.test(expression)) return row.columns;
  return row.columns.filter((c) => names.has(c.name));
}

/**
 * Whether a column default is volatile, asked of PostgreSQL itself: ADD COLUMN with a
 * non-volatile default stores it as the "missing value" of existing rows (no rewrite); with a
 * volatile one it rewrites. Probed on a one-row temporary table, rolled back; once per type and
 * default in a plan.
 */
export async function defaultIsVolatile(
  ctx: PlanContext,
  type: string,
  expression: string,
  field: string,
): Promise<boolean> {
  if (ctx.afterRawSql || (await missesStandIn(ctx, `${expression}\n${type}`))) return true;
  const column = `${storedType(type)} DEFAULT ${parenthesize(expression)}`;
  return ctx.checks.answer(`volatile default: ${column}`, async () => {
    const probe = await ctx.checks
      .rolledBack([
        'CREATE TEMPORARY TABLE _tidal_default_probe (x int) ON COMMIT DROP',
        'INSERT INTO _tidal_default_probe VALUES (1)',
        `ALTER TABLE _tidal_default_probe ADD COLUMN probe ${column}`,
        missingValueQuery('_tidal_default_probe', 'probe'),
      ])
      .catch((error: unknown) => {
        throw new InputError(
          `${ctx.where}.${field}: invalid default for type "${type}": ${messageOf(error)}`,
        );
      });
    return !(probe[3]?.rows[0] as MissingValueRow | undefined)?.missing;
  });
}

/**
 * Whether an expression over `columns` gives the same value for the same columns every time:
 * nothing like now(), random(), a subquery or a setting in it. PostgreSQL decides, as it does
 * for a generated column (the backfill's verification asks the same), on a temporary table of
 * the columns, rolled back; once per expression and columns in a plan. A probe that fails for
 * any other reason (a type raw SQL of the migration makes) answers false too: not known to be.
 */
export async function isImmutableOver(
  checks: DatabaseChecks,
  expression: string,
  columns: readonly { name: string; type: string }[],
): Promise<boolean> {
  const definitions = [
    ...columns.map((c) => `${ident(c.name)} ${c.type}`),
    `${ident('_tidal_probe')} boolean GENERATED ALWAYS AS (${parenthesize(expression)} IS NULL) STORED`,
  ];
  const probe = `CREATE TEMPORARY TABLE ${ident('_tidal_immutable_probe')} (${definitions.join(', ')}) ON COMMIT DROP`;
  return checks.answer(probe, () =>
    checks.rolledBack([probe]).then(
      () => true,
      (error: unknown) => {
        if (isConnectionLost(error)) throw error;
        return false;
      },
    ),
  );
}
