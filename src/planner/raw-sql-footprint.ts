import type { Node } from 'libpg-query';
import type { Migration } from '../migration/schema.js';
import { tryParseStatements } from '../migration/sql-text.js';

/**
 * What the raw `sql` operations of a migration leave for the migrations after it, as far as
 * planning them before it runs can follow (planner/pending.ts):
 * - `definitions`: statements that create new types, functions, schemas, sequences, extensions
 *   or tables of their own, and lock no existing table. The checks of later migrations run them
 *   first in their rolled-back transaction, so `order_status` or a table made by raw SQL exists
 *   for them exactly as it will.
 * - `additions`: `ALTER TABLE t ADD COLUMN ...` of plain columns (no constraint but NOT NULL and
 *   DEFAULT), the table named without its schema: the planner runs it on a temporary stand-in of
 *   the table as planned, and adds the columns it gets, with their types, to the catalog.
 * - statements that can only make a later operation fail, never make one valid (views,
 *   triggers, policies, grants, comments, writes of rows) are not needed: planning without them
 *   can miss an error, not invent one.
 * - anything else (ALTER TABLE, DROP, DO blocks, ...) could make any later operation valid: the
 *   planner cannot follow it, and says which statement.
 */
export type RawSqlFootprint =
  | { followed: true; definitions: string[]; additions: ColumnAddition[] }
  | { followed: false; where: string; statement: string };

/** Raw SQL that adds columns to a table of the schema. */
export interface ColumnAddition {
  table: string;
  statement: string;
  where: string;
}

/** The footprint of every `sql` operation of a migration, at start or at complete. */
export function rawSqlFootprint(migration: Migration, file: string): RawSqlFootprint {
  const definitions: string[] = [];
  const additions: ColumnAddition[] = [];
  for (const [i, operation] of migration.operations.entries()) {
    if (operation.kind !== 'sql') continue;
    const where = `${file}: operations[${i}].sql`;
    const statements = tryParseStatements(operation.options.up);
    if (typeof statements === 'string') return { followed: false, where, statement: statements };
    for (const { text, node } of statements) {
      const table = columnsAddedTo(node);
      if (table !== undefined) additions.push({ table, statement: text, where });
      else if (isDefinition(node)) definitions.push(text);
      else if (!onlyConstrains(node)) return { followed: false, where, statement: text };
    }
  }
  return { followed: true, definitions, additions };
}

/** The table an `ALTER TABLE ... ADD COLUMN` of plain columns adds to, named without its
 *  schema (so a temporary table of that name stands in for it). */
function columnsAddedTo(node: Node): string | undefined {
  if (!('AlterTableStmt' in node)) return undefined;
  const stmt = node.AlterTableStmt;
  const cmds = stmt.cmds ?? [];
  const plain = cmds.every(
    (cmd) =>
      'AlterTableCmd' in cmd &&
      cmd.AlterTableCmd.subtype === 'AT_AddColumn' &&
      constraintKinds(cmd).every((kind) => kind === 'CONSTR_NOTNULL' || kind === 'CONSTR_DEFAULT'),
  );
  const relation = stmt.relation;
  if (stmt.objtype !== 'OBJECT_TABLE' || cmds.length === 0 || !plain) return undefined;
  return relation?.relname && !relation.schemaname ? relation.relname : undefined;
}

function constraintKinds(node: unknown): string[] {
  return [...JSON.stringify(node).matchAll(/"contype":"(\w+)"/g)].map((m) => m[1] as string);
}

/** Creates an object of its own without locking an existing table (a foreign key, LIKE or a
 *  parent table would), and changes nothing else. */
function isDefinition(node: Node): boolean {
  if ('CreateStmt' in node) {
    const stmt = node.CreateStmt;
    const elements = stmt.tableElts ?? [];
    return (
      !stmt.inhRelations?.length &&
      stmt.partbound === undefined &&
      stmt.ofTypename === undefined &&
      !elements.some((e) => 'TableLikeClause' in e) &&
      !constraintKinds(elements).includes('CONSTR_FOREIGN')
    );
  }
  if ('CreateSchemaStmt' in node) return !node.CreateSchemaStmt.schemaElts?.length;
  return (
    'CreateEnumStmt' in node ||
    'CompositeTypeStmt' in node ||
    'CreateRangeStmt' in node ||
    'CreateDomainStmt' in node ||
    'DefineStmt' in node ||
    'CreateFunctionStmt' in node ||
    'CreateSeqStmt' in node ||
    'CreateExtensionStmt' in node
  );
}

/** Can only add what makes later operations fail (a dependency, a name taken), or writes rows:
 *  never removes or renames what the schema has. `OR REPLACE` could drop a dependency. */
function onlyConstrains(node: Node): boolean {
  if ('ViewStmt' in node) return !node.ViewStmt.replace;
  if ('CreateTrigStmt' in node) return !node.CreateTrigStmt.replace;
  if ('RuleStmt' in node) return !node.RuleStmt.replace;
  return (
    'CreatePolicyStmt' in node ||
    'GrantStmt' in node ||
    'CommentStmt' in node ||
    'InsertStmt' in node ||
    'UpdateStmt' in node ||
    'DeleteStmt' in node
  );
}
