/**
 * What each application version sees and must do because of one migration, said before it
 * matters: `tidal plan` lists these, `tidal start` prints them once the migration is active.
 * Computed from what planning produced, so only what applies to this migration is said, naming
 * its tables and columns. The README's "What each version sees and must do" explains each kind.
 */

import { NEEDS_BACKFILL_COLUMN } from '../model/names.js';
import type { Step } from '../model/step.js';
import { alwaysFits } from '../model/type-fit.js';
import type {
  PlannedColumn,
  PlannedTable,
  SyncSpec,
  VersionOverlay,
} from '../model/version-model.js';
import { ident } from '../pg/quote.js';
import { type VersionName, versionOnlyColumns } from './sync.js';

export type ObligationConcerns = 'old version' | 'new version' | 'both';

export type ObligationKind =
  /** SELECT * and RETURNING * on a plain table return tidal's temporary columns. */
  | 'temporary-columns'
  /** A session must select the new version to get it. */
  | 'select-version'
  /** How the dual-write trigger tells which version wrote a row of a table. */
  | 'write-attribution'
  /** The new version must write a new NOT NULL column that has no default. */
  | 'not-null'
  /** Values one version writes must fit the other version's type of the column. */
  | 'type-fit'
  /** A table the new version renamed or dropped is still reachable by its old name. */
  | 'old-table-name'
  /** After complete, a column replaced by its copy is at the end of the table. */
  | 'column-order';

export interface Obligation {
  kind: ObligationKind;
  concerns: ObligationConcerns;
  /** While both versions run, or once complete has run. */
  when: 'until complete' | 'after complete';
  /** The table it is about, by the name the concerned version knows it by (for
   *  `old-table-name`, the old name); null when it is about the migration as a whole. */
  table: string | null;
  /** The column it is about, by the same version's name; null when it is about the table. */
  column: string | null;
  /** What to do or avoid, in plain words, naming the tables and columns. */
  sentence: string;
}

/** The parts of a MigrationPlan the obligations come from. */
export interface ObligationPlan {
  schema: string;
  version: VersionName;
  /** The old version's schema when it is a version schema (null: the plain tables). */
  previousVersionSchema: string | null;
  /** Tables to backfill, by physical name: they carry the needs-backfill mark. */
  backfills: { table: string }[];
  /** Tables the new version no longer shows, by physical name. */
  overlay: Pick<VersionOverlay, 'dropped'>;
  /** Start's steps, in order: which columns they add, and the NOT NULL stand-in checks. */
  start: Step[];
}

/** The parts of the planned VersionModel the obligations come from. */
export interface ObligationModel {
  versionTables(): PlannedTable[];
  readonly sync: ReadonlyMap<string, SyncSpec>;
}

const q = (name: string) => `"${name}"`;
/** `"a", "b" and "c"` (or `or`). */
const list = (names: string[], conjunction: 'and' | 'or' = 'and') =>
  names.length <= 1
    ? names.map(q).join('')
    : `${names.slice(0, -1).map(q).join(', ')} ${conjunction} ${q(names.at(-1) as string)}`;

/** The obligations of a migration, until-complete ones first. Pure: reads only its arguments. */
export function obligationsOf(plan: ObligationPlan, model: ObligationModel): Obligation[] {
  const tables = model.versionTables();
  const untilComplete: Obligation[] = [];
  const afterComplete: Obligation[] = [];
  const select = selectVersion(plan, model, tables);
  if (select) untilComplete.push(select);
  const backfilled = new Set(plan.backfills.map((b) => b.table));
  for (const table of tables) {
    // A table this migration creates has no old version, and nothing tidal's own on it.
    if (table.created) continue;
    const temporary = temporaryColumns(plan, table, backfilled.has(table.physical));
    if (temporary) untilComplete.push(temporary);
    const spec = model.sync.get(table.physical);
    if (hasTrigger(spec)) untilComplete.push(writeAttribution(plan, table, spec));
    for (const column of table.columns) {
      const notNull = notNullWrite(plan, table, column);
      if (notNull) untilComplete.push(notNull);
    }
    if (spec) untilComplete.push(...typeFits(table, spec));
    if (table.name !== table.physical) untilComplete.push(oldTableName(plan, table));
    afterComplete.push(...columnOrder(plan, table));
  }
  for (const dropped of plan.overlay.dropped) untilComplete.push(droppedTable(plan, dropped));
  return [...untilComplete, ...afterComplete];
}

/** When the new version differs from the old at all, sessions must select it. */
function selectVersion(
  plan: ObligationPlan,
  model: ObligationModel,
  tables: PlannedTable[],
): Obligation | undefined {
  const changed = tables.filter(showsOtherwise);
  if (changed.length === 0 && plan.overlay.dropped.length === 0) return undefined;
  const { name, schema } = plan.version;
  const example = changed[0]?.name ?? tables[0]?.name;
  const qualified = example === undefined ? 'schema-qualified' : `as ${q(schema)}.${q(example)}`;
  const triggered = tables.some((t) => !t.created && hasTrigger(model.sync.get(t.physical)));
  const qualifiedOnly = triggered
    ? `Naming its views ${qualified} gives the new shape, but a write the dual-write trigger cannot tell by its columns still counts as the old version's (see the trigger's rule below).`
    : `Naming its views ${qualified} also gives the new version.`;
  return {
    kind: 'select-version',
    concerns: 'new version',
    when: 'until complete',
    table: null,
    column: null,
    sentence: `While "${name}" is active, every session of the new version must select it: schema ${q(schema)} first on search_path (\`tidal latest url\` prints a URL that does this), or SET tidal.version = '${name}'. A session that does neither is the old version: it sees the old version's tables in ${q(plan.schema)}. ${qualifiedOnly}`,
  };
}

/** Whether the new version shows a table the old version has otherwise: under another name,
 *  with other columns, or with a default of its own. (A table this migration creates is in the
 *  application schema too, as the new version shows it.) */
function showsOtherwise(table: PlannedTable): boolean {
  if (table.created) return false;
  if (table.name !== table.physical || table.columns.length !== table.oldColumns.length)
    return true;
  return table.columns.some((c) => c.added || c.name !== c.physical || c.viewDefault !== undefined);
}

/** Whether a table's dual-write trigger computes columns for the other version. */
function hasTrigger(spec: SyncSpec | undefined): spec is SyncSpec {
  return spec !== undefined && (spec.up.length > 0 || spec.down.length > 0);
}

/** The columns this migration adds to a table, in the order start adds them (the order
 *  SELECT * returns them in, and complete leaves them in). */
function addedInTableOrder(plan: ObligationPlan, table: PlannedTable): PlannedColumn[] {
  const order = plan.start.flatMap((s) =>
    (s.creates ?? []).filter((u) => u.kind === 'column' && u.table === table.physical),
  );
  const position = (c: PlannedColumn) => {
    const i = order.findIndex((u) => u.name === c.physical);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return table.columns.filter((c) => c.added).sort((a, b) => position(a) - position(b));
}

/** tidal's own columns on the plain table, which the old version's SELECT * returns. */
function temporaryColumns(
  plan: ObligationPlan,
  table: PlannedTable,
  backfilled: boolean,
): Obligation | undefined {
  const added = addedInTableOrder(plan, table).map((c) => c.physical);
  const own = backfilled ? [...added, NEEDS_BACKFILL_COLUMN] : added;
  if (own.length === 0) return undefined;
  const writeBack =
    added.length > 0
      ? `, and must not write them back: a write that gives ${list(added, 'or')} a value counts as the new version's`
      : '';
  return {
    kind: 'temporary-columns',
    concerns: 'old version',
    when: 'until complete',
    table: table.physical,
    column: null,
    sentence: `Until complete or rollback, SELECT * and RETURNING * on the plain table ${q(plan.schema)}.${q(table.physical)} (not a version schema's view) also return tidal's temporary column${own.length > 1 ? 's' : ''} ${list(own)}: code that uses the plain table, as the old version does${plan.previousVersionSchema ? ` unless it selects ${q(plan.previousVersionSchema)}` : ''}, should name the columns it reads${writeBack}.`,
  };
}

/** How the trigger tells the versions apart on this table, and what a misattributed write gets. */
function writeAttribution(plan: ObligationPlan, table: PlannedTable, spec: SyncSpec): Obligation {
  const { name, schema } = plan.version;
  const newOnly = versionOnlyColumns(table).newOnly.map((c) => c.name);
  const byData =
    newOnly.length > 0
      ? `when it gives a value to (or changes) ${list(newOnly, 'or')}, which only the new version shows, or when the session selects "${name}" by search_path or tidal.version`
      : `only when the session selects "${name}" by search_path or tidal.version`;
  const computed = spec.up.flatMap((u) => {
    const column = table.columns.find((c) => c.physical === u.column);
    return column ? [column.name] : [];
  });
  const consequences = [
    ...(computed.length > 0
      ? [
          `${list(computed)} ${computed.length > 1 ? 'are' : 'is'} computed from the old version's columns (by \`up\`, or the default)`,
        ]
      : []),
    ...(spec.down.length > 0
      ? [`\`down\` does not fill the old version's ${list(spec.down.map((d) => d.column))}`]
      : []),
  ];
  return {
    kind: 'write-attribution',
    concerns: 'new version',
    when: 'until complete',
    table: table.name,
    column: null,
    sentence: `The dual-write trigger on ${q(table.physical)} counts a write as the new version's ${byData}. Any other write counts as the old version's, even one through ${q(schema)}.${q(table.name)} named schema-qualified: then ${consequences.join(' and ')}.`,
  };
}

/** A NOT NULL column new to the new version, with no default: only `up` fills it for the old
 *  version, so the new version must write it itself. */
function notNullWrite(
  plan: ObligationPlan,
  table: PlannedTable,
  column: PlannedColumn,
): Obligation | undefined {
  if (!column.added || column.nullable || column.default !== null) return undefined;
  if (column.identity !== '' || column.generated !== '') return undefined;
  // A copy of a column that was NOT NULL already asks nothing new of the new version.
  const old = table.oldColumns.find((c) => c.name === column.copyOf);
  if (old && !old.nullable) return undefined;
  const check = standInCheck(plan.start, table.physical, column.physical);
  return {
    kind: 'not-null',
    concerns: 'new version',
    when: 'until complete',
    table: table.name,
    column: column.name,
    sentence: `Until complete, the new version must give ${q(table.name)}.${q(column.name)} a value in every INSERT and never set it to NULL: it is NOT NULL with no default, and tidal's check ${check ? q(check) : 'standing in for NOT NULL'} rejects a row without it (the old version's rows get it from \`up\`).`,
  };
}

/** The name of the NOT VALID check start adds in place of NOT NULL on `column`, if any. */
function standInCheck(steps: Step[], table: string, column: string): string | undefined {
  const clause = `CHECK (${ident(column)} IS NOT NULL)`;
  for (const step of steps) {
    if (!step.sql.includes(clause)) continue;
    const made = step.creates?.find((u) => u.kind === 'constraint' && u.table === table);
    if (made) return made.name;
  }
  return undefined;
}

/** For each column the two versions hold in different types: values one version writes must
 *  fit the other's column, or the dual-write trigger fails the write. */
function typeFits(table: PlannedTable, spec: SyncSpec): Obligation[] {
  const obligations: Obligation[] = [];
  for (const down of spec.down) {
    const change = down.typeChange;
    if (!change || alwaysFits(change.newType, change.oldType)) continue;
    obligations.push({
      kind: 'type-fit',
      concerns: 'new version',
      when: 'until complete',
      table: table.name,
      column: change.name,
      sentence: `Until complete, every value the new version writes to ${q(table.name)}.${q(change.name)} (${change.newType}) must also fit the old version's column (${change.oldType}) after \`down\`: the dual-write trigger copies each write into it, and a value that does not fit fails the write, saying so.`,
    });
  }
  for (const up of spec.up) {
    const change = up.typeChange;
    if (!change || alwaysFits(change.oldType, change.newType)) continue;
    const copy = table.columns.find((c) => c.physical === up.column);
    const oldName = copy?.copyOf ?? change.name;
    obligations.push({
      kind: 'type-fit',
      concerns: 'old version',
      when: 'until complete',
      table: table.physical,
      column: oldName,
      sentence: `Until complete, every value the old version writes to ${q(table.physical)}.${q(oldName)} (${change.oldType}) must also fit the new version's column (${change.newType}) after \`up\`: the dual-write trigger copies each write into it, and a value that does not fit fails the write, saying so.`,
    });
  }
  return obligations;
}

/** A table the new version renamed: its old name still reaches it through the application
 *  schema, which stays on the new version's search_path. */
function oldTableName(plan: ObligationPlan, table: PlannedTable): Obligation {
  return {
    kind: 'old-table-name',
    concerns: 'new version',
    when: 'until complete',
    table: table.physical,
    column: null,
    sentence: `Until complete, the old name ${q(table.physical)} still reaches the table in ${q(plan.schema)}, which is on the new version's search_path: the new version must call it ${q(table.name)}, since complete renames the table and ${q(table.physical)} then no longer exists.`,
  };
}

function droppedTable(plan: ObligationPlan, table: string): Obligation {
  return {
    kind: 'old-table-name',
    concerns: 'new version',
    when: 'until complete',
    table,
    column: null,
    sentence: `Until complete, table ${q(table)} stays in ${q(plan.schema)}, which is on the new version's search_path, so the new version can still reach it although it dropped it: it must not use it, since complete drops the table.`,
  };
}

/**
 * Complete drops each replaced column and gives its copy the name, so the copy ends up where
 * ADD COLUMN put it, at the end of the table. Said only when the table's order then differs from
 * the order the new version's view shows (and keeps after complete).
 */
function columnOrder(plan: ObligationPlan, table: PlannedTable): Obligation[] {
  const copies = table.columns.filter((c) => c.copied);
  if (copies.length === 0) return [];
  const shown = new Map(table.columns.map((c) => [c.physical, c]));
  const kept = table.oldColumns.flatMap((c) => {
    const column = shown.get(c.name);
    return column && !column.added ? [column] : [];
  });
  const added = addedInTableOrder(plan, table);
  const final = [...kept, ...added].map((c) => c.name);
  if (final.join('\u0000') === table.columns.map((c) => c.name).join('\u0000')) return [];
  const plain = `${q(plan.schema)}.${q(table.name)}`;
  return copies.map((column) => ({
    kind: 'column-order',
    concerns: 'new version',
    when: 'after complete',
    table: table.name,
    column: column.name,
    sentence: `After complete, ${q(table.name)}.${q(column.name)} is the copy tidal made, so it moves to the end of the plain table ${plain}: INSERT INTO ${plain} VALUES (...) without a column list, COPY without one, and anything else relying on the order of its columns fail or put values in the wrong columns; name the columns (the views of ${q(plan.version.schema)} keep their order).`,
  }));
}
