/**
 * Checks of a parsed migration that need no database: the SQL text of every expression and
 * statement, and rules that span fields (a NOT NULL column needs a value for existing rows...).
 * Each operation kind's check is in operations/<kind>.ts, found through schema.ts's table.
 */
import { Checks, type OfflineCheck } from './offline-checks.js';
import { type Path, problemsError } from './problems.js';
import { type Migration, type Operation, operationFormats } from './schema.js';

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
  const { check } = operationFormats[operation.kind] as {
    check: OfflineCheck<Operation['options']>;
  };
  check(operation.options, at, c);
}
