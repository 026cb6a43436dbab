import type { TableInfo } from '../catalog/types.js';
import { InputError } from '../errors.js';
import type { PlanContext } from '../operations/types.js';
import { ident } from '../pg/quote.js';
import { identifiersIn, parenthesize, qualifiesWith } from './expressions.js';

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
 * Opens the transaction a check runs in, which the caller always rolls back. What raw SQL of
 * earlier migrations not run yet defines (PlanContext.definitions) is made first, as that SQL
 * will make it: in the session's search_path, function bodies unchecked, since they may use
 * tables those migrations create. Then unqualified names in expressions and types resolve in
 * the application schema, as they will in the triggers and views tidal creates.
 */
export async function beginCheck(
  ctx: Pick<PlanContext, 'db' | 'schema' | 'definitions'>,
  shadows: TableInfo[] = [],
): Promise<void> {
  await ctx.db.query('BEGIN');
  if (ctx.definitions.length > 0) {
    await ctx.db.query('SET LOCAL check_function_bodies = off');
    for (const statement of ctx.definitions) await ctx.db.query(statement);
  }
  await ctx.db.query(`SET LOCAL search_path = ${ident(ctx.schema)}, pg_catalog`);
  // Temporary tables come first in name lookup, before the application schema's.
  for (const table of shadows) {
    const columns = table.columns.map((c) => `${ident(c.name)} ${c.type}`);
    await ctx.db.query(`CREATE TEMPORARY TABLE ${ident(table.name)} (${columns.join(', ')})`);
  }
}

/**
 * The tables that SQL of a check (an expression, a type) names and that the live database does
 * not have as planning sees them: earlier migrations, not run yet, create or change them. The
 * check makes them as temporary tables of the shape they will have. `qualified` when the SQL
 * names them through the application schema, where a temporary table does not stand in: the
 * check is left out then.
 */
async function tablesToShadow(
  ctx: PlanContext,
  sql: string,
): Promise<{ shadows: TableInfo[]; qualified: boolean }> {
  const { model } = ctx;
  if (model.catalogIsLive) return { shadows: [], qualified: false };
  const names = await identifiersIn(sql);
  const shadows = [...model.catalog.tables.values()].filter(
    (t) => names.has(t.name) && !model.isLive(t.name),
  );
  const qualified = shadows.length > 0 && (await qualifiesWith(sql, ctx.schema));
  return { shadows, qualified };
}

/** Runs `sql` in a transaction that is always rolled back, turning an error into bad input. */
async function tryInRolledBackTransaction<T>(
  ctx: PlanContext,
  sql: string,
  describe: (message: string) => string,
  shadows: TableInfo[] = [],
): Promise<T[]> {
  try {
    await beginCheck(ctx, shadows);
    const { rows } = await ctx.db.query(sql);
    return rows as T[];
  } catch (error) {
    throw new InputError(describe((error as Error).message));
  } finally {
    await ctx.db.query('ROLLBACK').catch(() => {});
  }
}

/** Checks that `type` names an existing type. */
export async function checkType(ctx: PlanContext, type: string, field: string): Promise<void> {
  if (ctx.afterRawSql) return;
  const { shadows, qualified } = await tablesToShadow(ctx, type);
  if (qualified) return;
  await tryInRolledBackTransaction(
    ctx,
    `SELECT NULL::${storedType(type)}`,
    (message) => `${ctx.where}.${field}: invalid type "${type}": ${message}`,
    shadows,
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
  row: { alias: string; columns: { name: string; type: string }[] },
  field: string,
): Promise<void> {
  if (ctx.afterRawSql) return;
  const types = row.columns.map((c) => c.type).join(', ');
  const { shadows, qualified } = await tablesToShadow(ctx, `${expression}\n${types}`);
  if (qualified) return;
  const columns = row.columns.map((c) => `NULL::${storedType(c.type)} AS ${ident(c.name)}`);
  const source = columns.length > 0 ? columns.join(', ') : 'NULL AS "?"';
  await tryInRolledBackTransaction(
    ctx,
    `SELECT ${parenthesize(expression)} FROM (SELECT ${source}) AS ${ident(row.alias)} LIMIT 0`,
    (message) => `${ctx.where}.${field}: ${message} in expression: ${expression}`,
    shadows,
  );
}

/**
 * Whether a column default is volatile, asked of PostgreSQL itself: ADD COLUMN with a
 * non-volatile default stores it as the "missing value" of existing rows (no rewrite); with a
 * volatile one it rewrites. Probed on a one-row temporary table, rolled back.
 */
export async function defaultIsVolatile(
  ctx: PlanContext,
  type: string,
  expression: string,
  field: string,
): Promise<boolean> {
  if (ctx.afterRawSql) return true;
  const describe = (message: string) =>
    `${ctx.where}.${field}: invalid default for type "${type}": ${message}`;
  const { shadows, qualified } = await tablesToShadow(ctx, `${expression}\n${type}`);
  if (qualified) return true;
  try {
    await beginCheck(ctx, shadows);
    await ctx.db.query('CREATE TEMPORARY TABLE _tidal_default_probe (x int) ON COMMIT DROP');
    await ctx.db.query('INSERT INTO _tidal_default_probe VALUES (1)');
    await ctx.db.query(
      `ALTER TABLE _tidal_default_probe ADD COLUMN probe ${storedType(type)} DEFAULT ${parenthesize(expression)}`,
    );
    const { rows } = await ctx.db.query<{ missing: boolean }>(
      `SELECT atthasmissing AS missing FROM pg_attribute
        WHERE attrelid = 'pg_temp._tidal_default_probe'::regclass AND attname = 'probe'`,
    );
    return !rows[0]?.missing;
  } catch (error) {
    throw new InputError(describe((error as Error).message));
  } finally {
    await ctx.db.query('ROLLBACK').catch(() => {});
  }
}
