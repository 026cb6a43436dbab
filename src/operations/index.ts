import type { Operation, OperationKind, OperationOptions } from '../migration/schema.js';
import type { OperationModule, OperationSteps, PlanContext } from '../model/operation.js';
import { addColumn } from './add-column.js';
import { alterColumn } from './alter-column.js';
import { createConstraint } from './create-constraint.js';
import { createIndex } from './create-index.js';
import { createTable } from './create-table.js';
import { dropColumn } from './drop-column.js';
import { dropConstraint } from './drop-constraint.js';
import { dropIndex } from './drop-index.js';
import { dropMultiColumnConstraint } from './drop-multicolumn-constraint.js';
import { dropTable } from './drop-table.js';
import { renameColumn } from './rename-column.js';
import { renameConstraint } from './rename-constraint.js';
import { renameTable } from './rename-table.js';
import { setReplicaIdentity } from './set-replica-identity.js';
import { rawSql } from './sql.js';

/** Every operation kind and the module that plans it. */
const modules: { [K in OperationKind]: OperationModule<OperationOptions<K>> } = {
  add_column: addColumn,
  create_table: createTable,
  drop_column: dropColumn,
  rename_column: renameColumn,
  rename_table: renameTable,
  drop_table: dropTable,
  create_index: createIndex,
  drop_index: dropIndex,
  sql: rawSql,
  alter_column: alterColumn,
  create_constraint: createConstraint,
  drop_constraint: dropConstraint,
  drop_multicolumn_constraint: dropMultiColumnConstraint,
  rename_constraint: renameConstraint,
  set_replica_identity: setReplicaIdentity,
};

export function planOperation(operation: Operation, ctx: PlanContext): Promise<OperationSteps> {
  const module = modules[operation.kind] as OperationModule<typeof operation.options>;
  return module.plan(operation.options, ctx);
}
