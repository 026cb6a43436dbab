import { identityIndexFacts, replicaIdentityIndex } from '../catalog/plan-reads.js';
import { InputError } from '../errors.js';
import type { SetReplicaIdentity } from '../migration/operations/set-replica-identity.js';
import { catalogConstraintName, currentConstraintName } from '../model/constraint-names.js';
import { emptySteps, type OperationModule, type PlanContext } from '../model/operation.js';
import { tableStep, type Undoable } from '../model/step.js';
import type { PlannedTable } from '../model/version-model.js';
import { ident, qualifiedName } from '../pg/quote.js';

/** A replica identity as pg_class.relreplident says it; `index` by its name in the catalog (or
 *  as planned, for an index this migration creates). */
interface Identity {
  type: 'd' | 'n' | 'f' | 'i';
  index?: string;
}

const TYPES: Record<string, Identity['type']> = {
  default: 'd',
  nothing: 'n',
  full: 'f',
  index: 'i',
};

/** The identity each table will have once the operations planned so far have started. */
const planned = new WeakMap<PlannedTable, Identity>();

/**
 * set_replica_identity: what logical replication logs to identify a changed row. It changes no
 * data and neither version's queries, so start sets it at once; PostgreSQL takes an ACCESS
 * EXCLUSIVE lock for `ALTER TABLE ... REPLICA IDENTITY` (in every supported major), held for an
 * instant, with no scan. Rollback restores the identity the table had; complete does nothing.
 */
export const setReplicaIdentity: OperationModule<SetReplicaIdentity> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.table, `${where}.table`);
    const type = TYPES[o.identity.type.toLowerCase()];
    if (!type) {
      throw new InputError(
        `${where}.identity.type: expected one of ${Object.keys(TYPES).join(', ')}, got "${o.identity.type}"`,
      );
    }
    let target: Identity = { type };
    if (type === 'i') {
      const index = o.identity.index;
      if (!index) throw new InputError(`${where}.identity.index: required when type is index`);
      target = { type, index: await checkIndex(ctx, table, index) };
    } else if (o.identity.index) {
      throw new InputError(
        `${where}.identity.index: only used when type is index, not ${o.identity.type}`,
      );
    }
    const previous = planned.get(table) ?? (await identityBefore(ctx, table));
    planned.set(table, target);

    const t = qualifiedName(schema, table.physical);
    const ref = { schema, name: table.physical };
    const steps = emptySteps();
    // Named by the target too: a second change of the same table is undone on its own.
    const changed: Undoable = {
      kind: 'change',
      table: table.physical,
      name: `replica identity ${clause(ctx, table, target)}`,
    };
    steps.start.push(
      tableStep(
        ref,
        'AccessExclusive',
        `ALTER TABLE ${t} REPLICA IDENTITY ${clause(ctx, table, target)}`,
        `set the replica identity of "${table.name}" to ${describe(ctx, table, target)}; ACCESS EXCLUSIVE for an instant, no scan`,
        { creates: [changed] },
      ),
    );
    // IF EXISTS: rollback also runs after a start that stopped before creating the table.
    steps.rollback.push(
      tableStep(
        ref,
        'AccessExclusive',
        `ALTER TABLE IF EXISTS ${t} REPLICA IDENTITY ${clause(ctx, table, previous)}`,
        `restore the replica identity of "${table.name}" to ${describe(ctx, table, previous)}`,
        { undoes: changed },
      ),
    );
    return steps;
  },
};

function clause(ctx: PlanContext, table: PlannedTable, identity: Identity): string {
  switch (identity.type) {
    case 'd':
      return 'DEFAULT';
    case 'n':
      return 'NOTHING';
    case 'f':
      return 'FULL';
    case 'i':
      return `USING INDEX ${ident(currentConstraintName(ctx.model, table, identity.index ?? ''))}`;
  }
}

function describe(ctx: PlanContext, table: PlannedTable, identity: Identity): string {
  if (identity.type !== 'i') return clause(ctx, table, identity);
  return `index "${currentConstraintName(ctx.model, table, identity.index ?? '')}"`;
}

/**
 * Checks that index `name` of the table can identify rows as PostgreSQL requires (unique, not
 * partial, no expressions, not deferrable, key columns NOT NULL) and is valid; returns its
 * catalog name. An index this migration creates (or raw SQL before it) is left to the database.
 */
async function checkIndex(ctx: PlanContext, table: PlannedTable, name: string): Promise<string> {
  const { model, schema, where } = ctx;
  const at = `${where}.identity.index`;
  const catalogName = catalogConstraintName(model, table, name);
  const info = table.created ? undefined : model.catalog.tables.get(table.physical);
  const index =
    catalogName === undefined ? undefined : info?.indexes.find((i) => i.name === catalogName);
  if (!info || !index || catalogName === undefined) {
    if (catalogName === undefined) {
      throw new InputError(
        `${at}: index "${name}" of table "${table.name}" is renamed by an earlier operation of this migration`,
      );
    }
    const other = model.indexTable(name);
    if (other && model.relationExists(name) && other.name !== table.physical) {
      throw new InputError(
        `${at}: index "${name}" is on table "${other.name}", not "${table.name}"`,
      );
    }
    if (model.table(name) || model.catalog.tables.has(name)) {
      throw new InputError(`${at}: "${name}" is a table, not an index`);
    }
    // Created by an earlier operation of this migration, or by raw SQL: the database checks.
    if (model.relationExists(name) || ctx.afterRawSql) return name;
    throw new InputError(
      `${at}: index "${name}" does not exist on table "${table.name}" in schema "${schema}"`,
    );
  }
  if (!model.relationExists(name)) {
    throw new InputError(
      `${at}: index "${name}" is dropped by an earlier operation of this migration`,
    );
  }
  // An index of a table earlier migrations, not run yet, create or change: the database checks.
  if (!model.isLive(table.physical)) return catalogName;
  const row = await identityIndexFacts(ctx.db, info.oid, catalogName);
  if (!row) {
    throw new InputError(
      `${at}: index "${name}" does not exist on table "${table.name}" in schema "${schema}"`,
    );
  }
  const problem = !row.unique
    ? 'is not unique'
    : row.partial
      ? 'is partial (has a WHERE clause)'
      : row.expression
        ? 'indexes an expression'
        : !row.immediate
          ? 'is deferrable'
          : !row.valid
            ? 'is invalid (left by a failed concurrent build)'
            : row.nullable.length > 0
              ? `covers nullable column${row.nullable.length > 1 ? 's' : ''} ${row.nullable.map((c) => `"${c}"`).join(', ')}`
              : null;
  if (problem) {
    throw new InputError(
      `${at}: index "${name}" ${problem}; a replica identity index must be unique, not partial, not deferrable, and on NOT NULL columns only`,
    );
  }
  return catalogName;
}

/** The table's replica identity before the operations planned so far, from the catalog. */
async function identityBefore(ctx: PlanContext, table: PlannedTable): Promise<Identity> {
  const info = table.created ? undefined : ctx.model.catalog.tables.get(table.physical);
  if (!info) return { type: 'd' };
  if (info.replicaIdentity === 'i' && !ctx.model.isLive(table.physical)) return { type: 'n' };
  switch (info.replicaIdentity) {
    case 'n':
    case 'f':
      return { type: info.replicaIdentity };
    case 'i': {
      const index = await replicaIdentityIndex(ctx.db, info.oid);
      // 'i' whose index was dropped identifies rows like NOTHING, the closest that can be set.
      return index ? { type: 'i', index } : { type: 'n' };
    }
    default:
      return { type: 'd' };
  }
}
