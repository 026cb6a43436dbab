import type { PlannedTable, VersionModel } from './version-model.js';

// Names of constraints renamed by the migration being planned: the model's catalog keeps the
// names from before the migration; `VersionModel.constraintRenames` says what each is called
// from then on.

function renamesOf(model: VersionModel, physical: string): Map<string, string> {
  let names = model.constraintRenames.get(physical);
  if (!names) {
    names = new Map();
    model.constraintRenames.set(physical, names);
  }
  return names;
}

export function recordRename(
  model: VersionModel,
  table: PlannedTable,
  from: string,
  to: string,
  catalogName: string,
): void {
  const names = renamesOf(model, table.physical);
  names.delete(from);
  if (to !== catalogName) names.set(to, catalogName);
}

/** The catalog's name of the constraint (or constraint index) a table's constraint `name` is
 *  at this point of the migration; undefined when the catalog's `name` was renamed away. */
export function catalogConstraintName(
  model: VersionModel,
  table: PlannedTable,
  name: string,
): string | undefined {
  const names = renamesOf(model, table.physical);
  const original = names.get(name);
  if (original !== undefined) return original;
  return [...names.values()].includes(name) ? undefined : name;
}

/** What the catalog's constraint (or constraint index) `catalogName` of a table is called at
 *  this point of the migration. */
export function currentConstraintName(
  model: VersionModel,
  table: PlannedTable,
  catalogName: string,
): string {
  for (const [current, original] of renamesOf(model, table.physical)) {
    if (original === catalogName) return current;
  }
  return catalogName;
}
