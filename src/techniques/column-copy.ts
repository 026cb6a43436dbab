import { columnDependents, ownedSequences } from '../catalog/read.js';
import type { ConstraintInfo, IndexInfo, TableInfo } from '../catalog/types.js';
import { InputError } from '../errors.js';
import type { AlterColumn } from '../migration/operations/alter-column.js';
import { checkExpression } from '../model/breaking-rows.js';
import { checkExpressionOver, checkType, storedType } from '../model/checks.js';
import { currentConstraintName } from '../model/constraint-names.js';
import { columnsNamedIn, mentionsColumn, renameColumnInExpression } from '../model/expressions.js';
import { grantStatements } from '../model/grants.js';
import { newColumnName, notNullCheckName, prefixedName } from '../model/names.js';
import {
  CompleteStage,
  emptySteps,
  type OperationSteps,
  type PlanContext,
} from '../model/operation.js';
import {
  checkDefinition,
  commentOnColumn,
  qualifiedTable,
  referencesClause,
} from '../model/sql-fragments.js';
import { type Step, stepsOn, type TableRef, tableStep, type Undoable } from '../model/step.js';
import type { PlannedColumn, PlannedConstraint, PlannedTable } from '../model/version-model.js';
import { ident } from '../pg/quote.js';
import {
  addValidatedLater,
  constraintLocks,
  type LaterConstraint,
  type LaterSummaries,
  notNullStandIn,
  validatedLater,
} from './validated-later.js';

/** Columns copied together by one operation: old physical name to the copy's name. */
export type CopyGroup = Map<string, string>;

export interface CopyOptions {
  /** The columns copied together with this one (default: just this one). */
  group?: CopyGroup;
  /** Constraints of the column not to rebuild on the copy: the caller builds them. */
  skipConstraints?: ReadonlySet<string>;
}

export function copyGroup(columns: PlannedColumn[]): CopyGroup {
  return new Map(columns.map((c) => [c.physical, newColumnName(c.name)]));
}

/** Whether an alter_column needs new data, so a copy column: anything but catalog changes. */
export function needsCopyColumn(o: AlterColumn, column: PlannedColumn): boolean {
  return (
    o.type !== undefined ||
    o.unique !== undefined ||
    o.check !== undefined ||
    o.references !== undefined ||
    (o.nullable === false && column.nullable)
  );
}

/**
 * alter_column through a copy column. A new physical column `_tidal_new_<name>` holds the new
 * version's values: `up` (default: the old value) computes it for rows the old version writes
 * and, by the backfill, for existing rows; `down` (default: the new value) computes the old
 * column for rows the new version writes. Constraints on the new column go in NOT VALID once the
 * trigger fills it and are validated after the backfill, so `up` decides what rows that broke
 * them become, and a value `up` leaves broken fails start before anything is visible. Checks,
 * indexes and foreign keys of the old column are rebuilt on the new one. Complete drops the old
 * column and gives the new one its name; rollback drops the new column.
 */
export async function planCopyColumn(
  o: AlterColumn,
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  steps: OperationSteps,
  options: CopyOptions = {},
): Promise<void> {
  const { model, schema, where } = ctx;
  const group = options.group ?? copyGroup([column]);
  const info = model.catalog.tables.get(table.physical);
  const referencing = await refuseUnsupported(ctx, table, column, info, group);
  const newType = o.type ?? column.type;
  await checkType(ctx, newType, 'type');
  const oldName = column.physical; // the old version's name for it
  // Objects over several columns of the group are rebuilt once, with the group's first column.
  const rebuildsShared = [...group.keys()][0] === oldName;
  const renameGroup = async (sql: string) => {
    for (const [from, to] of group) sql = await renameColumnInExpression(sql, from, to);
    return sql;
  };
  const finalName = o.name ?? column.name;
  const up = o.up ?? ident(oldName);
  const down = o.down ?? ident(finalName);
  const oldRow = table.oldColumns.map((c) => ({ name: c.name, type: c.type }));
  await checkExpressionOver(ctx, up, { alias: table.name, columns: oldRow }, 'up', {
    column: finalName,
    type: newType,
  });
  const newRow = table.columns.map((c) =>
    c === column ? { name: finalName, type: newType } : { name: c.name, type: c.type },
  );
  await checkExpressionOver(ctx, down, { alias: table.name, columns: newRow }, 'down', {
    column: oldName,
    type: column.type,
  });

  const physical = newColumnName(column.name);
  const t = qualifiedTable(schema, table.physical);
  const ref: TableRef = { schema, name: table.physical };
  const col = ident(physical);
  const step = stepsOn(ref);
  const renameAtComplete: Step[] = [];

  const copy: Undoable = { kind: 'column', table: table.physical, name: physical };
  steps.start.push(
    step(
      'AccessExclusive',
      `ALTER TABLE ${t} ADD COLUMN ${col} ${newType}`,
      `add column ${physical} for the new version of "${column.name}"`,
      { creates: [copy] },
    ),
  );
  // The copy's default is the new version's view's until complete gives it to the table (see
  // defaultsToViews): only the new version's writes fill the copy themselves.
  const defaultValue = o.default !== undefined ? o.default : column.default;
  // Privileges on the column alone go to the copy, which takes the column's place at complete
  // (and is what the new version's view of a table with row-level security reads as the role).
  for (const sql of grantStatements(t, [], [{ name: physical, grants: column.grants ?? [] }])) {
    steps.start.push(step('none', sql, `give ${physical} the privileges on "${column.name}"`));
  }
  const comment = o.comment !== undefined ? o.comment : columnComment(info, oldName);
  // Views show no comment of their own unless given one.
  if (comment !== null) column.viewComment = comment;
  if (comment !== null) {
    steps.start.push(
      step(
        'ShareUpdateExclusive',
        commentOnColumn(schema, table.physical, physical, comment),
        `comment on ${physical}`,
      ),
    );
  }

  const notNull = o.nullable === false || (o.nullable === undefined && !column.nullable);
  // Constraints on the copy go in once the trigger fills it. A check may reject the NULL the copy
  // gets once the trigger is gone, so rollback drops checks before the trigger goes; foreign keys
  // go before the copy's own drop, which would otherwise take them (and their lock on the
  // referenced table) with it.
  const onCopy = (c: LaterConstraint, summaries: LaterSummaries) =>
    addValidatedLater(steps, ref, c, summaries, {
      add: 'afterSync',
      drop: c.kind === 'check' ? 'rollbackFirst' : 'rollback',
    });
  if (notNull) {
    const name = notNullCheckName(column.name);
    const check = ident(name);
    onCopy(notNullStandIn(name, physical), { what: `NOT NULL of the new "${column.name}"` });
    renameAtComplete.push(
      step(
        'AccessExclusive',
        `ALTER TABLE ${t} ALTER COLUMN ${ident(finalName)} SET NOT NULL`,
        `set NOT NULL on "${finalName}" (no scan)`,
      ),
      step(
        'AccessExclusive',
        `ALTER TABLE ${t} DROP CONSTRAINT ${check}`,
        'drop the NOT NULL stand-in check',
      ),
    );
  }

  // Constraints of the old column, rebuilt on the new one under a temporary name.
  const oldKeysReference: TableRef[] = [];
  for (const c of info?.constraints ?? []) {
    if (!c.columns.includes(oldName) || c.type === 'n') continue;
    if (c.columns.length > 1 && !rebuildsShared) continue;
    // By its name as of this operation: an earlier one may have renamed or dropped it.
    const name = currentConstraintName(model, table, c.name);
    if (!table.constraintNames.has(name) || options.skipConstraints?.has(name)) continue;
    const temporary = prefixedName('_tidal_', name);
    if (c.type === 'c') {
      const expression = await renameGroup(checkExpression(c.definition));
      onCopy(
        { kind: 'check', name: temporary, definition: checkDefinition(expression) },
        { what: `the rebuilt check "${name}"`, add: `rebuild check "${name}" on the new column` },
      );
      renameAtComplete.push(
        step(
          'AccessExclusive',
          `ALTER TABLE ${t} RENAME CONSTRAINT ${ident(temporary)} TO ${ident(name)}`,
          `give check "${name}" back its name`,
        ),
      );
    } else if (c.type === 'f' && c.referencedTable) {
      const target = c.definition
        .slice(c.definition.indexOf(' REFERENCES '))
        .replace(/ NOT VALID$/, '');
      const keys = c.columns.map((k) => ident(group.get(k) ?? k)).join(', ');
      oldKeysReference.push(c.referencedTable);
      onCopy(
        {
          kind: 'foreign_key',
          name: temporary,
          definition: `FOREIGN KEY (${keys})${target}`,
          referenced: c.referencedTable,
        },
        {
          what: `the rebuilt foreign key "${name}"`,
          add: `rebuild foreign key "${name}" on the new column`,
        },
      );
      renameAtComplete.push(
        step(
          'AccessExclusive',
          `ALTER TABLE ${t} RENAME CONSTRAINT ${ident(temporary)} TO ${ident(name)}`,
          `give foreign key "${name}" back its name`,
        ),
      );
    } else if (c.type === 'u' || c.type === 'p') {
      const index = info?.indexes.find((i) => i.name === c.name);
      if (!index) continue;
      const kind = c.type === 'u' ? 'UNIQUE' : 'PRIMARY KEY';
      steps.afterBackfill.push(await rebuildIndex(index, renameGroup, temporary, t, schema, ref));
      // After SET NOT NULL above: a primary key needs it, and would scan for it otherwise.
      renameAtComplete.push(
        step(
          'AccessExclusive',
          `ALTER TABLE ${t} ADD CONSTRAINT ${ident(name)} ${kind} USING INDEX ${ident(temporary)}`,
          `turn the rebuilt index into ${c.type === 'u' ? 'unique constraint' : 'primary key'} "${name}"`,
        ),
      );
    }
  }
  // Plain indexes of the old column.
  for (const index of info?.indexes ?? []) {
    const constraintIndex = info?.constraints.some((c) => c.name === index.name);
    if (constraintIndex || !index.columns.includes(oldName)) continue;
    if (index.columns.length > 1 && !rebuildsShared) continue;
    const temporary = prefixedName('_tidal_', index.name);
    steps.afterBackfill.push(await rebuildIndex(index, renameGroup, temporary, t, schema, ref));
    // Renaming an index locks the index only, and not against reads or writes.
    renameAtComplete.push(
      tableStep(
        { schema, name: temporary },
        'ShareUpdateExclusive',
        `ALTER INDEX ${ident(schema)}.${ident(temporary)} RENAME TO ${ident(index.name)}`,
        `give index "${index.name}" back its name`,
      ),
    );
  }

  // New constraints.
  const newConstraints: PlannedConstraint[] = [];
  if (o.check) {
    if (table.constraintNames.has(o.check.name))
      throw new InputError(
        `${where}.check.name: constraint "${o.check.name}" already exists on table "${table.name}"`,
      );
    await checkExpressionOver(
      ctx,
      o.check.constraint,
      { alias: table.name, columns: newRow },
      'check.constraint',
    );
    const expression = await renameColumnInExpression(o.check.constraint, finalName, physical);
    onCopy(
      {
        kind: 'check',
        name: o.check.name,
        definition: checkDefinition(expression, o.check.no_inherit),
      },
      { what: `check "${o.check.name}"` },
    );
    table.constraintNames.add(o.check.name);
    newConstraints.push({
      name: o.check.name,
      type: 'c',
      columns: [],
      expression: o.check.constraint,
    });
  }
  if (o.references) {
    const r = o.references;
    if (table.constraintNames.has(r.name))
      throw new InputError(
        `${where}.references.name: constraint "${r.name}" already exists on table "${table.name}"`,
      );
    const target = model.requireTable(r.table, `${where}.references.table`);
    const references = referencesClause(schema, { ...r, table: target.physical });
    onCopy(
      {
        kind: 'foreign_key',
        name: r.name,
        definition: `FOREIGN KEY (${col}) ${references}`,
        referenced: { schema, name: target.physical },
      },
      { what: `foreign key "${r.name}"` },
    );
    table.constraintNames.add(r.name);
    const targetColumn = target.columns.find((c) => c.name === r.column);
    newConstraints.push({
      name: r.name,
      type: 'f',
      columns: [column],
      references: targetColumn && { table: target, columns: [targetColumn] },
    });
  }
  if (o.unique) {
    const name = o.unique.name;
    if (table.constraintNames.has(name) || model.relationExists(name))
      throw new InputError(
        `${where}.unique.name: "${name}" is already taken in schema "${schema}"`,
      );
    const index = prefixedName('_tidal_uniq_', column.name);
    steps.afterBackfill.push(
      step(
        'ShareUpdateExclusive',
        `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${ident(index)} ON ${t} (${col})`,
        `build unique index on the new "${column.name}" without blocking writes`,
        {
          transactional: false,
          effect: 'scan',
          invalidIndex: { schema, name: index },
          creates: [{ kind: 'index', name: index }],
        },
      ),
    );
    renameAtComplete.push(
      step(
        'AccessExclusive',
        `ALTER TABLE ${t} ADD CONSTRAINT ${ident(name)} UNIQUE USING INDEX ${ident(index)}`,
        `turn the unique index into constraint "${name}"`,
      ),
    );
    table.constraintNames.add(name);
    model.addRelationName(name);
    newConstraints.push({ name, type: 'u', columns: [column] });
  }

  const typeChange =
    storedType(newType) !== column.type
      ? { typeChange: { name: finalName, oldType: column.type, newType: storedType(newType) } }
      : {};
  model.syncFor(table.physical).up.push({ column: physical, expression: up, ...typeChange });
  model.syncFor(table.physical).down.push({ column: oldName, expression: down, ...typeChange });
  model.backfillFor(table).set.push({ column: physical, name: column.name, expression: up });

  // A serial column's sequence goes with the column it belongs to: hand it to the copy first.
  const sequence = await ownedSequence(ctx, table, oldName);
  const handOver = sequence
    ? [
        step(
          'AccessExclusive',
          `ALTER SEQUENCE ${sequence.name}${sequence.type !== storedType(newType) && INTEGER_TYPES.has(storedType(newType)) ? ` AS ${storedType(newType)}` : ''} OWNED BY ${t}.${col}`,
          `hand sequence ${sequence.name} over to the new "${column.name}"`,
        ),
      ]
    : [];
  // Before the triggers go, the old column stops requiring a value (renames have not run yet).
  const relax: Step[] = [];
  if (!column.nullable) {
    const pkey = info?.constraints.find((c) => c.type === 'p' && c.columns.includes(oldName));
    if (pkey && column.default === null && column.identity === '') {
      relax.push(
        step(
          'AccessExclusive',
          `ALTER TABLE ${t} DROP CONSTRAINT ${ident(currentConstraintName(model, table, pkey.name))}`,
          `drop the old primary key (the new column's unique index holds)`,
        ),
      );
    }
    if (!pkey || relax.length > 0) {
      relax.push(
        step(
          'AccessExclusive',
          `ALTER TABLE ${t} ALTER COLUMN ${ident(oldName)} DROP NOT NULL`,
          `let the old "${column.name}" be NULL until it is dropped`,
        ),
      );
    }
  }
  // At complete, earlier operations' renames have run: the old column has its name as of now.
  // Dropping the old column drops its foreign keys, which locks the tables they reference.
  const droppedKeyLocks = new Map(
    oldKeysReference
      .flatMap((referenced) => dropLocks(ref, referenced).alsoLocks ?? [])
      .map((l) => [`${l.table.schema}.${l.table.name}`, l]),
  );
  const contract = [
    ...handOver,
    step(
      'AccessExclusive',
      `ALTER TABLE ${t} DROP COLUMN ${ident(column.name)}`,
      `drop the old "${column.name}"`,
      droppedKeyLocks.size > 0 ? { alsoLocks: [...droppedKeyLocks.values()] } : {},
    ),
    step(
      'AccessExclusive',
      `ALTER TABLE ${t} RENAME COLUMN ${col} TO ${ident(finalName)}`,
      `give the new column the name "${finalName}"`,
    ),
    ...renameAtComplete,
  ];
  steps.complete.push(
    ...relax.map((s) => ({ stage: CompleteStage.Relax, step: s })),
    ...contract.map((s) => ({ stage: CompleteStage.Columns, step: s })),
  );
  steps.rollback.push(
    step(
      'AccessExclusive',
      `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${col}`,
      `drop the new "${column.name}"`,
      { undoes: copy },
    ),
  );

  if (table.primaryKey.includes(oldName))
    table.primaryKey = table.primaryKey.map((k) => (k === oldName ? physical : k));
  column.physical = physical;
  column.name = finalName;
  // The copy's own default, which the new version's view takes (plan shows it from here).
  column.default = defaultValue;
  column.type = storedType(newType);
  column.nullable = !notNull;
  column.added = true;
  column.copied = true;
  column.copyOf = oldName;
  model.touch(table);
  // Recorded once the column has its new name: a check names the columns by the new version's.
  for (const constraint of newConstraints) {
    if (constraint.type === 'c' && constraint.expression !== undefined)
      constraint.columns = await columnsNamedIn(table.columns, constraint.expression);
    model.recordConstraint(table, constraint);
  }

  for (const fk of referencing) {
    await carryReferencingKey(ctx, table, physical, newType, fk, steps);
  }
}

/** The locks dropping a foreign key of `table` that references `referenced` takes. */
function dropLocks(table: TableRef, referenced: TableRef): Pick<Step, 'lock' | 'alsoLocks'> {
  return constraintLocks('drop', table, { kind: 'foreign_key', referenced });
}

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/** The sequence a serial column owns, if any, and its type. */
async function ownedSequence(
  ctx: PlanContext,
  table: PlannedTable,
  column: string,
): Promise<{ name: string; type: string } | null> {
  // Of a table earlier migrations, not run yet, create or change, what the live database says
  // does not hold: the copy keeps no sequence then (what runs is planned when its turn comes).
  if (ctx.afterRawSql || !ctx.model.isLive(table.physical)) return null;
  const sequences = await ctx.checks.answer('owned sequences', () =>
    ownedSequences(ctx.db, ctx.schema),
  );
  return sequences.get(table.physical)?.get(column) ?? null;
}

/**
 * A foreign key of another table that references the copied key column: its column is copied
 * too, to the same type (int to bigint on both sides, the classic case), and the key is built
 * again between the two copies once the copy's unique index exists. Complete swaps the
 * referencing column first, so the old key no longer holds the old primary key when that goes.
 */
async function carryReferencingKey(
  ctx: PlanContext,
  target: PlannedTable,
  targetCopy: string,
  newType: string,
  fk: ConstraintInfo & { table: string },
  steps: OperationSteps,
): Promise<void> {
  const { model, schema } = ctx;
  const table = model.versionTables().find((t) => t.physical === fk.table);
  const column = table?.columns.find((c) => c.physical === fk.columns[0]);
  if (!table || !column) {
    throw new InputError(
      `${ctx.where}.column: foreign key "${fk.name}" of table "${fk.table}" references it, and its column is dropped by this migration; not supported by this version of tidal yet`,
    );
  }
  const own = emptySteps();
  await planCopyColumn(
    { table: table.name, column: column.name, type: newType },
    { ...ctx, where: `${ctx.where} (through foreign key "${fk.name}" of "${table.name}")` },
    table,
    column,
    own,
    { skipConstraints: new Set([fk.name]) },
  );
  const t = qualifiedTable(schema, table.physical);
  const ref = { schema, name: table.physical };
  const temporary = prefixedName('_tidal_', fk.name);
  // `REFERENCES parent(id) ON DELETE ...`: the actions, after the referenced columns.
  const actions = fk.definition
    .replace(/^.*?\bREFERENCES\s+.+?\([^)]*\)/, '')
    .replace(/\s*NOT VALID$/, '');
  const referenced = { schema, name: target.physical };
  const rebuilt = validatedLater(
    ref,
    {
      kind: 'foreign_key',
      name: temporary,
      definition: `FOREIGN KEY (${ident(column.physical)}) REFERENCES ${qualifiedTable(schema, target.physical)} (${ident(targetCopy)})${actions}`,
      referenced,
    },
    {
      what: `the rebuilt foreign key "${fk.name}"`,
      add: `rebuild foreign key "${fk.name}" between the new columns`,
    },
  );
  steps.start.push(...own.start);
  steps.afterSync.push(...own.afterSync);
  // After the build of the referenced copy's unique index, which the key needs.
  steps.afterBackfill.push(...own.afterBackfill, rebuilt.add, rebuilt.validate);
  const dropOld = dropLocks(ref, referenced);
  // The old key between the old columns goes before the triggers do: it would hold the new
  // version's writes to the old values the triggers no longer keep (and before the old primary
  // key, which it depends on, if that goes early).
  steps.complete.unshift(
    {
      stage: CompleteStage.Relax,
      step: tableStep(
        ref,
        dropOld.lock,
        `ALTER TABLE ${t} DROP CONSTRAINT ${ident(fk.name)}`,
        `drop the old foreign key "${fk.name}" (the rebuilt one holds)`,
        { alsoLocks: dropOld.alsoLocks },
      ),
    },
    ...own.complete,
  );
  steps.complete.push({
    stage: CompleteStage.Columns,
    step: tableStep(
      ref,
      'AccessExclusive',
      `ALTER TABLE ${t} RENAME CONSTRAINT ${ident(temporary)} TO ${ident(fk.name)}`,
      `give foreign key "${fk.name}" back its name`,
    ),
  });
  // Before the referenced copy goes: the rebuilt key depends on its index. The key first, so the
  // referencing copy's drop does not take it, and its lock on the referenced table, along.
  steps.rollback.unshift(rebuilt.drop, ...own.rollback);
  steps.rollbackFirst.unshift(...own.rollbackFirst);
}

/** Refuses, before anything runs, what the copy path cannot carry over yet. */
async function refuseUnsupported(
  ctx: PlanContext,
  table: PlannedTable,
  column: PlannedColumn,
  info: TableInfo | undefined,
  group: CopyGroup,
): Promise<(ConstraintInfo & { table: string })[]> {
  const { where, model } = ctx;
  const unsupported = (why: string) =>
    new InputError(
      `${where}.column: ${why}; changing it this way is not supported by this version of tidal yet`,
    );
  if (table.created || !info) {
    throw new InputError(
      `${where}.table: table "${table.name}" is created by this same migration; give the column its final shape there`,
    );
  }
  const name = column.physical;
  if (column.identity !== '' || column.generated !== '') {
    throw unsupported(`column "${column.name}" is an identity or generated column`);
  }
  if (table.primaryKey.includes(name) && table.primaryKey.length > 1)
    throw unsupported(`column "${column.name}" is part of a primary key of several columns`);
  for (const c of info.constraints) {
    if (c.type !== 'n' && c.columns.includes(name) && c.columns.some((k) => !group.has(k))) {
      throw unsupported(
        `column "${column.name}" is part of the multi-column constraint "${c.name}"`,
      );
    }
  }
  for (const i of info.indexes) {
    const keys = i.definition.slice(i.definition.indexOf(' USING '));
    const involved = i.columns.includes(name) || (await mentionsColumn(keys, name));
    if (involved && (i.columns.length === 0 || i.columns.some((k) => !group.has(k)))) {
      throw unsupported(
        `column "${column.name}" is part of the multi-column or expression index "${i.name}"`,
      );
    }
  }
  const dependent = await dependentObjects(ctx, table, name);
  if (dependent.length > 0) {
    throw unsupported(
      `column "${column.name}" is used by ${dependent.join(', ')}, which complete could not keep when it drops the old column`,
    );
  }
  // Foreign keys that reference the column are carried over when they are simple.
  const referencing: (ConstraintInfo & { table: string })[] = [];
  for (const { table: other, key: c } of model.foreignKeysReferencing(table.physical)) {
    if (!c.referencedColumns.includes(name)) continue;
    if (c.columns.length > 1 || other.name === table.physical) {
      throw unsupported(
        `foreign key "${c.name}" of table "${other.name}" references column "${column.name}" ${c.columns.length > 1 ? 'with other columns' : 'from the same table'}`,
      );
    }
    referencing.push({ ...c, table: other.name });
  }
  return referencing;
}

/** What else in the database uses the column (catalog/read.ts, columnDependents): dropping
 *  the old column at complete would fail on each of them. */
async function dependentObjects(
  ctx: PlanContext,
  table: PlannedTable,
  column: string,
): Promise<string[]> {
  // Of a table earlier migrations, not run yet, create or change, the live database knows
  // nothing that holds for it; they also add no dependents the planner would not see.
  if (ctx.afterRawSql || !ctx.model.isLive(table.physical)) return [];
  const dependents = await ctx.checks.answer('column dependents', () =>
    columnDependents(ctx.db, ctx.schema, [
      ...(ctx.previousVersionSchema ? [ctx.previousVersionSchema] : []),
      ...ctx.goneVersionSchemas,
    ]),
  );
  return dependents.get(table.physical)?.get(column) ?? [];
}

function columnComment(info: TableInfo | undefined, column: string): string | null {
  return info?.columns.find((c) => c.name === column)?.comment ?? null;
}

/** The index rebuilt concurrently on the new column under a temporary name: its definition from
 *  `USING` on, with the column renamed. */
async function rebuildIndex(
  index: IndexInfo,
  rename: (sql: string) => Promise<string>,
  temporary: string,
  t: string,
  schema: string,
  ref: TableRef,
): Promise<Step> {
  const method = index.definition.slice(index.definition.indexOf(' USING ') + 1);
  const definition = await rename(method);
  return tableStep(
    ref,
    'ShareUpdateExclusive',
    `CREATE${index.unique ? ' UNIQUE' : ''} INDEX CONCURRENTLY IF NOT EXISTS ${ident(temporary)} ON ${t} ${definition}`,
    `rebuild index "${index.name}" on the new column without blocking writes`,
    {
      transactional: false,
      effect: 'scan',
      invalidIndex: { schema, name: temporary },
      creates: [{ kind: 'index', name: temporary }],
    },
  );
}
