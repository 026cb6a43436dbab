import { InputError } from '../errors.js';
import type { PlanContext } from '../operations/types.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';
import { parenthesize } from './expressions.js';

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

/** Runs `sql` in a transaction that is always rolled back, turning an error into bad input. */
async function tryInRolledBackTransaction<T>(
  db: Queryable,
  schema: string,
  sql: string,
  describe: (message: string) => string,
): Promise<T[]> {
  await db.query('BEGIN');
  try {
    // Unqualified names in expressions and types resolve in the application schema, as they
    // will in the triggers and views tidal creates.
    await db.query(`SET LOCAL search_path = ${ident(schema)}, pg_catalog`);
    const { rows } = await db.query(sql);
    return rows as T[];
  } catch (error) {
    throw new InputError(describe((error as Error).message));
  } finally {
    await db.query('ROLLBACK').catch(() => {});
  }
}

/** Checks that `type` names an existing type. */
export async function checkType(ctx: PlanContext, type: string, field: string): Promise<void> {
  if (ctx.afterRawSql) return;
  await tryInRolledBackTransaction(
    ctx.db,
    ctx.schema,
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
  row: { alias: string; columns: { name: string; type: string }[] },
  field: string,
): Promise<void> {
  if (ctx.afterRawSql) return;
  const columns = row.columns.map((c) => `NULL::${storedType(c.type)} AS ${ident(c.name)}`);
  const source = columns.length > 0 ? columns.join(', ') : 'NULL AS "?"';
  await tryInRolledBackTransaction(
    ctx.db,
    ctx.schema,
    `SELECT ${parenthesize(expression)} FROM (SELECT ${source}) AS ${ident(row.alias)} LIMIT 0`,
    (message) => `${ctx.where}.${field}: ${message} in expression: ${expression}`,
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
  await ctx.db.query('BEGIN');
  try {
    await ctx.db.query(`SET LOCAL search_path = ${ident(ctx.schema)}, pg_catalog`);
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
