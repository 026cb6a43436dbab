import { relationKind } from '../catalog/plan-reads.js';
import type { ConstraintInfo } from '../catalog/types.js';
import { InputError } from '../errors.js';
import type { RenameConstraint } from '../migration/operations/rename-constraint.js';
import { catalogConstraintName, recordRename } from '../model/constraint-names.js';
import { emptySteps, type OperationModule, type PlanContext } from '../model/operation.js';
import { constraintExistsCondition, doBlock } from '../model/sql-fragments.js';
import type { Undoable } from '../model/step.js';
import type { PlannedTable, VersionModel } from '../model/version-model.js';
import { qualifiedName } from '../pg/quote.js';
import { renameConstraint as renameConstraintStep } from '../techniques/constraint-rename.js';

/** Constraint kinds backed by an index of the same name: renaming the constraint renames it. */
const INDEX_BACKED = new Set<ConstraintInfo['type']>(['p', 'u', 'x']);

/**
 * rename_constraint: a constraint's name is metadata that neither version's queries depend on, so
 * start renames it at once (`ALTER TABLE ... RENAME CONSTRAINT`: an ACCESS EXCLUSIVE lock held
 * for an instant, no scan) and both versions go on working; a primary key, unique or exclusion
 * constraint's index is renamed with it. Rollback renames it back; complete has nothing to do.
 */
export const renameConstraint: OperationModule<RenameConstraint> = {
  async plan(o, ctx) {
    const { model, schema, where } = ctx;
    const table = model.requireTable(o.table, `${where}.table`);
    const catalogName = catalogConstraintName(model, table, o.from);
    const existing =
      catalogName === undefined ? undefined : catalogConstraint(model, table, catalogName);
    if (!existing || !table.constraintNames.has(o.from)) {
      if (table.constraintNames.has(o.from)) {
        throw new InputError(
          `${where}.from: constraint "${o.from}" on table "${table.name}" is added by an earlier operation of this migration; give it the name "${o.to}" there`,
        );
      }
      // Raw SQL earlier in the migration may create it; the database checks at start.
      if (!ctx.afterRawSql) {
        throw new InputError(
          `${where}.from: constraint "${o.from}" does not exist on table "${table.name}"`,
        );
      }
    }
    if (constraintNameTaken(model, table, o.to)) {
      throw new InputError(
        `${where}.to: a constraint named "${o.to}" already exists on table "${table.name}"`,
      );
    }
    // Unknown only after raw SQL: assume the worst, an index that takes the new name too.
    const indexBacked = existing ? INDEX_BACKED.has(existing.type) : true;
    if (indexBacked && (await relationNameTaken(ctx, o.to))) {
      throw new InputError(
        `${where}.to: a table or index named "${o.to}" already exists in schema "${schema}" (renaming ${existing ? `${constraintKind(existing.type)} "${o.from}"` : `"${o.from}"`} renames its index too)`,
      );
    }

    // Record the new name for later operations of the migration.
    table.constraintNames.delete(o.from);
    table.constraintNames.add(o.to);
    if (existing && catalogName !== undefined)
      recordRename(model, table, o.from, o.to, catalogName);
    if (existing && indexBacked) model.removeRelationName(o.from);
    if (indexBacked) model.addRelationName(o.to);

    const t = qualifiedName(schema, table.physical);
    const ref = { schema, name: table.physical };
    const steps = emptySteps();
    const change: Undoable = {
      kind: 'change',
      table: table.physical,
      name: `constraint "${o.from}" renamed to "${o.to}"`,
    };
    const renamed = renameConstraintStep(
      ref,
      o.from,
      o.to,
      `rename constraint "${o.from}" of "${table.name}" to "${o.to}"${indexBacked && existing ? ' (and its index)' : ''}; instant, both versions keep working`,
      { creates: [change] },
    );
    steps.start.push(renamed);
    // Rollback runs whole even after a start that stopped early: rename back only if renamed.
    const back = renameConstraintStep(
      ref,
      o.to,
      o.from,
      `rename constraint "${o.to}" of "${table.name}" back to "${o.from}"`,
    );
    steps.rollback.push({
      ...back,
      sql: doBlock(`IF ${constraintExistsCondition(t, o.to)} THEN ${back.sql}; END IF;`),
      undoes: change,
    });
    return steps;
  },
};

function constraintKind(type: ConstraintInfo['type']): string {
  switch (type) {
    case 'p':
      return 'primary key';
    case 'u':
      return 'unique constraint';
    case 'x':
      return 'exclusion constraint';
    default:
      return 'constraint';
  }
}

function catalogConstraint(
  model: VersionModel,
  table: PlannedTable,
  catalogName: string,
): ConstraintInfo | undefined {
  if (table.created) return undefined;
  return model.catalog.tables.get(table.physical)?.constraints.find((c) => c.name === catalogName);
}

/** Whether a constraint of the table is called `name` when this operation's start step runs. */
function constraintNameTaken(model: VersionModel, table: PlannedTable, name: string): boolean {
  if (table.constraintNames.has(name)) return true;
  // Still in the catalog under that name (a constraint some operation drops at complete).
  return (
    catalogConstraintName(model, table, name) === name &&
    catalogConstraint(model, table, name) !== undefined
  );
}

/** Whether a relation of the schema is called `name` when this operation's start step runs. */
async function relationNameTaken(ctx: PlanContext, name: string): Promise<boolean> {
  const { model } = ctx;
  if (model.relationExists(name)) return true;
  if (ctx.afterRawSql) return false;
  // Relations the model does not track (views, sequences), and those an operation removes only
  // at complete (drop_index): the name is still taken when start runs.
  const found = await relationKind(ctx.db, ctx.schema, name);
  if (!found) return false;
  // Planned after earlier migrations not run yet, the model knows which tables and indexes
  // there will be; the live database, only what they will not change (views, sequences).
  if (!model.catalogIsLive && ['r', 'p', 'i', 'I'].includes(found)) return false;
  // A constraint index renamed away earlier in this migration frees its name at start.
  for (const [physical, names] of model.constraintRenames) {
    const info = model.catalog.tables.get(physical);
    for (const original of names.values()) {
      if (original !== name) continue;
      const type = info?.constraints.find((c) => c.name === original)?.type;
      if (type && INDEX_BACKED.has(type)) return false;
    }
  }
  return true;
}
