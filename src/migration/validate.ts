/**
 * Checks of a parsed migration that need no database: the SQL text of every expression and
 * statement, and rules that span fields (a NOT NULL column needs a value for existing rows...).
 * Each operation kind's check is in operations/<kind>.ts.
 */
import { Checks, type OfflineCheck } from './offline-checks.js';
import { checkAddColumn } from './operations/add-column.js';
import { checkAlterColumn } from './operations/alter-column.js';
import { checkCreateConstraint } from './operations/create-constraint.js';
import { checkCreateIndex } from './operations/create-index.js';
import { checkCreateTable } from './operations/create-table.js';
import { checkDropColumn } from './operations/drop-column.js';
import { checkDropConstraint } from './operations/drop-constraint.js';
import { checkDropIndex } from './operations/drop-index.js';
import { checkDropMultiColumnConstraint } from './operations/drop-multicolumn-constraint.js';
import { checkDropTable } from './operations/drop-table.js';
import { checkRenameColumn } from './operations/rename-column.js';
import { checkRenameConstraint } from './operations/rename-constraint.js';
import { checkRenameTable } from './operations/rename-table.js';
import { checkSetReplicaIdentity } from './operations/set-replica-identity.js';
import { checkRawSql } from './operations/sql.js';
import { type Path, problemsError } from './problems.js';
import type { Migration, Operation, OperationKind, OperationOptions } from './schema.js';

/** The offline check of each operation kind. */
const operationChecks: { [K in OperationKind]: OfflineCheck<OperationOptions<K>> } = {
  add_column: checkAddColumn,
  alter_column: checkAlterColumn,
  create_table: checkCreateTable,
  drop_column: checkDropColumn,
  rename_column: checkRenameColumn,
  create_index: checkCreateIndex,
  drop_index: checkDropIndex,
  rename_table: checkRenameTable,
  drop_table: checkDropTable,
  create_constraint: checkCreateConstraint,
  drop_constraint: checkDropConstraint,
  drop_multicolumn_constraint: checkDropMultiColumnConstraint,
  rename_constraint: checkRenameConstraint,
  set_replica_identity: checkSetReplicaIdentity,
  sql: checkRawSql,
};

/** Throws InputError listing what is wrong (file, operation index, field). Needs initSqlParser(). */
export function validateMigration(migration: Migration, file: string): void {
  const checks = new Checks();
  // An empty migration would still make a version schema and a history entry, for nothing.
  if (migration.operations.length === 0) {
    checks.problem(['operations'], 'no operations: a migration needs at least one');
  }
  migration.operations.forEach((operation, index) => {
    checkOperation(operation, ['operations', index, operation.kind], checks);
  });
  if (checks.problems.length > 0) throw problemsError(file, checks.problems);
}

function checkOperation(operation: Operation, at: Path, c: Checks): void {
  // The table pairs each kind with the check of its options; TypeScript cannot follow that
  // pairing through the union.
  const check = operationChecks[operation.kind] as OfflineCheck<Operation['options']>;
  check(operation.options, at, c);
}
