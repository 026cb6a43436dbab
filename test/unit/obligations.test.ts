/**
 * What each version sees and must do, computed from a plan: only what applies to the migration,
 * naming its tables and columns. The fixtures are shaped as planning leaves its model (the
 * integration tests in plan.test.ts check the same against real plans).
 */
import { describe, expect, it } from 'vitest';
import type { ColumnInfo } from '../../src/catalog/types.js';
import { NEEDS_BACKFILL_COLUMN, newColumnName } from '../../src/model/names.js';
import type { Step } from '../../src/model/step.js';
import { alwaysFits } from '../../src/model/type-fit.js';
import type { PlannedColumn, PlannedTable, SyncSpec } from '../../src/model/version-model.js';
import {
  type Obligation,
  type ObligationPlan,
  obligationsOf,
} from '../../src/planner/obligations.js';

const column = (name: string, type = 'integer', nullable = true): ColumnInfo => ({
  name,
  attnum: 0,
  type,
  nullable,
  default: null,
  identity: '',
  generated: '',
  comment: null,
  collation: null,
  grants: [],
});

/** A migration being planned over tables that exist: what each operation leaves behind. */
class Fixture {
  readonly tables: PlannedTable[] = [];
  readonly sync = new Map<string, SyncSpec>();
  readonly plan: ObligationPlan = {
    schema: 'public',
    version: { name: 'v2', schema: 'public_v2' },
    previousVersionSchema: null,
    backfills: [],
    overlay: { dropped: [] },
    start: [],
  };

  table(name: string, ...columns: ColumnInfo[]): PlannedTable {
    return this.add(name, false, columns);
  }

  /** create_table: a table no old version has. */
  createTable(name: string, ...columns: ColumnInfo[]): PlannedTable {
    return this.add(name, true, columns);
  }

  private add(name: string, created: boolean, columns: ColumnInfo[]): PlannedTable {
    const table: PlannedTable = {
      name,
      physical: name,
      created,
      columns: columns.map((c) => ({ ...c, physical: c.name, added: false })),
      oldColumns: created ? [] : columns,
      primaryKey: [],
      walkKey: [],
      constraintNames: new Set(),
    };
    this.tables.push(table);
    return table;
  }

  private spec(table: PlannedTable): SyncSpec {
    let spec = this.sync.get(table.physical);
    if (!spec) {
      spec = { up: [], down: [] };
      this.sync.set(table.physical, spec);
    }
    return spec;
  }

  private backfill(table: PlannedTable): void {
    if (!this.plan.backfills.some((b) => b.table === table.physical))
      this.plan.backfills.push({ table: table.physical });
  }

  private addStep(table: PlannedTable, physical: string, notNull: boolean): void {
    const step = (sql: string, kind: 'column' | 'constraint', name: string): Step => ({
      sql,
      summary: '',
      lock: 'AccessExclusive',
      effect: 'none',
      transactional: true,
      creates: [{ kind, table: table.physical, name }],
    });
    this.plan.start.push(step(`ALTER TABLE ADD COLUMN "${physical}"`, 'column', physical));
    if (notNull) {
      const check = `_tidal_nn_${physical.replace('_tidal_new_', '')}`;
      this.plan.start.push(
        step(
          `ADD CONSTRAINT "${check}" CHECK ("${physical}" IS NOT NULL) NOT VALID`,
          'constraint',
          check,
        ),
      );
    }
  }

  /** add_column with `up`: a temporary column filled by the trigger and the backfill. */
  addColumn(table: PlannedTable, name: string, options: Partial<PlannedColumn> = {}): void {
    const added: PlannedColumn = {
      ...column(name, 'text'),
      ...options,
      physical: newColumnName(name),
      added: true,
    };
    table.columns.push(added);
    this.spec(table).up.push({ column: added.physical, expression: "'x'" });
    this.backfill(table);
    this.addStep(table, added.physical, !added.nullable && added.default === null);
  }

  /** alter_column through a copy, as planCopyColumn leaves the column. */
  copyColumn(table: PlannedTable, name: string, change: { type?: string; nullable?: boolean }) {
    const c = table.columns.find((x) => x.name === name) as PlannedColumn;
    const old = { name: c.physical, type: c.type };
    const newType = change.type ?? c.type;
    const typeChange = newType !== c.type ? { typeChange: { name, oldType: c.type, newType } } : {};
    Object.assign(c, {
      physical: newColumnName(name),
      type: newType,
      nullable: change.nullable ?? c.nullable,
      added: true,
      copied: true,
      copyOf: old.name,
    });
    this.spec(table).up.push({ column: c.physical, expression: old.name, ...typeChange });
    this.spec(table).down.push({ column: old.name, expression: name, ...typeChange });
    this.backfill(table);
    this.addStep(table, c.physical, !c.nullable);
  }

  dropColumn(table: PlannedTable, name: string, down?: string): void {
    table.columns = table.columns.filter((c) => c.name !== name);
    if (down) this.spec(table).down.push({ column: name, expression: down });
  }

  renameColumn(table: PlannedTable, from: string, to: string): void {
    const c = table.columns.find((x) => x.name === from) as PlannedColumn;
    c.name = to;
  }

  renameTable(table: PlannedTable, to: string): void {
    table.name = to;
  }

  dropTable(table: PlannedTable): void {
    this.tables.splice(this.tables.indexOf(table), 1);
    this.plan.overlay.dropped.push(table.physical);
  }

  obligations(): Obligation[] {
    return obligationsOf(this.plan, { versionTables: () => this.tables, sync: this.sync });
  }
}

const kinds = (list: Obligation[]) => list.map((o) => o.kind);
const only = (list: Obligation[], kind: Obligation['kind']) => list.filter((o) => o.kind === kind);

describe('obligations of a migration', () => {
  it('none when the migration only creates a table (and the old version has nothing to see)', () => {
    const f = new Fixture();
    f.table('users', column('id', 'integer', false));
    f.createTable('audit', column('id', 'integer', false), column('note', 'text'));
    expect(f.obligations()).toEqual([]);
  });

  it('a new column: the old version sees it and the mark on the plain table, the new version must select itself', () => {
    const f = new Fixture();
    const users = f.table('users', column('id', 'integer', false), column('name', 'text'));
    f.addColumn(users, 'email');
    const list = f.obligations();
    expect(kinds(list)).toEqual(['select-version', 'temporary-columns', 'write-attribution']);
    const [select, temporary, attribution] = list as [Obligation, Obligation, Obligation];
    expect(select).toMatchObject({ concerns: 'new version', table: null, when: 'until complete' });
    expect(select.sentence).toContain(`schema "public_v2" first on search_path`);
    expect(select.sentence).toContain(`SET tidal.version = 'v2'`);
    expect(select.sentence).toContain(`"public_v2"."users"`);
    expect(temporary).toMatchObject({ concerns: 'old version', table: 'users', column: null });
    expect(temporary.sentence).toContain(
      'SELECT * and RETURNING * on the plain table "public"."users"',
    );
    expect(temporary.sentence).toContain(`"_tidal_new_email" and "${NEEDS_BACKFILL_COLUMN}"`);
    expect(temporary.sentence).toContain(
      `a write that gives "_tidal_new_email" a value counts as the new version's`,
    );
    expect(temporary.sentence).toContain('as the old version does, should name the columns');
    expect(attribution).toMatchObject({ concerns: 'new version', table: 'users' });
    expect(attribution.sentence).toContain('gives a value to (or changes) "email"');
    expect(attribution.sentence).toContain('"email" is computed from the old version\'s columns');
  });

  it('after an earlier migration, the old version may use its version schema instead', () => {
    const f = new Fixture();
    f.plan.previousVersionSchema = 'public_v1';
    f.addColumn(f.table('users', column('id')), 'email');
    expect(only(f.obligations(), 'temporary-columns')[0]?.sentence).toContain(
      'as the old version does unless it selects "public_v1", should name the columns',
    );
  });

  it('a new NOT NULL column without a default: the new version must write it', () => {
    const f = new Fixture();
    const users = f.table('users', column('id', 'integer', false));
    f.addColumn(users, 'email', { nullable: false });
    f.addColumn(users, 'plan', { nullable: false, default: "'free'" });
    f.addColumn(users, 'nickname');
    const list = only(f.obligations(), 'not-null');
    expect(list).toEqual([
      expect.objectContaining({ concerns: 'new version', table: 'users', column: 'email' }),
    ]);
    expect(list[0]?.sentence).toContain('must give "users"."email" a value in every INSERT');
    expect(list[0]?.sentence).toContain('check "_tidal_nn_email" rejects');
  });

  it('a copy made NOT NULL asks the new version to write it; a copy of a NOT NULL column does not', () => {
    const f = new Fixture();
    const users = f.table('users', column('id', 'integer', false), column('nick', 'text'));
    f.copyColumn(users, 'nick', { nullable: false });
    f.copyColumn(users, 'id', { type: 'bigint' });
    expect(only(f.obligations(), 'not-null').map((o) => o.column)).toEqual(['nick']);
  });

  it('a widened type: the new version must write values the old type holds', () => {
    const f = new Fixture();
    const users = f.table('users', column('id', 'integer', false), column('age', 'integer'));
    f.copyColumn(users, 'age', { type: 'bigint' });
    const list = only(f.obligations(), 'type-fit');
    expect(list).toEqual([
      expect.objectContaining({ concerns: 'new version', table: 'users', column: 'age' }),
    ]);
    expect(list[0]?.sentence).toContain(
      'every value the new version writes to "users"."age" (bigint) must also fit the old version\'s column (integer)',
    );
  });

  it('a narrowed type: the old version must write values the new type holds, under its own names', () => {
    const f = new Fixture();
    const orders = f.table('orders', column('id', 'integer', false), column('total', 'bigint'));
    f.copyColumn(orders, 'total', { type: 'integer' });
    f.renameTable(orders, 'purchases');
    const list = only(f.obligations(), 'type-fit');
    expect(list).toEqual([
      expect.objectContaining({ concerns: 'old version', table: 'orders', column: 'total' }),
    ]);
    expect(list[0]?.sentence).toContain(
      'every value the old version writes to "orders"."total" (bigint) must also fit the new version\'s column (integer)',
    );
  });

  it('a copy moves to the end of the table at complete, unless it is there already', () => {
    const f = new Fixture();
    const users = f.table(
      'users',
      column('id', 'integer', false),
      column('age', 'integer'),
      column('name', 'text'),
    );
    f.copyColumn(users, 'age', { type: 'bigint' });
    f.addColumn(users, 'email');
    const list = only(f.obligations(), 'column-order');
    expect(list.map((o) => [o.column, o.when, o.concerns])).toEqual([
      ['age', 'after complete', 'new version'],
    ]);
    expect(list[0]?.sentence).toContain(
      '"users"."age" is the copy tidal made, so it moves to the end of the plain table "public"."users"',
    );
    expect(list[0]?.sentence).toContain(
      'INSERT INTO "public"."users" VALUES (...) without a column list',
    );
    expect(kinds(f.obligations()).at(-1)).toBe('column-order');

    // Copies of the last columns, in their order: the table ends as the view shows it.
    const last = new Fixture();
    const items = last.table(
      'items',
      column('id', 'integer', false),
      column('price', 'integer'),
      column('stock', 'integer'),
    );
    last.copyColumn(items, 'price', { type: 'bigint' });
    last.copyColumn(items, 'stock', { type: 'bigint' });
    expect(only(last.obligations(), 'column-order')).toEqual([]);
  });

  it('a renamed and a dropped table stay reachable by the old name, which the new version must not use', () => {
    const f = new Fixture();
    const orders = f.table('orders', column('id'));
    f.renameTable(orders, 'purchases');
    f.dropTable(f.table('legacy', column('id')));
    const list = only(f.obligations(), 'old-table-name');
    expect(list.map((o) => [o.table, o.concerns])).toEqual([
      ['orders', 'new version'],
      ['legacy', 'new version'],
    ]);
    expect(list[0]?.sentence).toContain(
      'the old name "orders" still reaches the table in "public"',
    );
    expect(list[0]?.sentence).toContain('must call it "purchases"');
    expect(list[1]?.sentence).toContain('table "legacy" stays in "public"');
    // Neither has a trigger: schema-qualified names are enough there.
    expect(only(f.obligations(), 'select-version')[0]?.sentence).toContain(
      'Naming its views as "public_v2"."purchases" also gives the new version',
    );
  });

  it("a dropped column with down: only the session tells the trigger a write is the new version's", () => {
    const f = new Fixture();
    const users = f.table('users', column('id', 'integer', false), column('legacy', 'text', false));
    f.dropColumn(users, 'legacy', "'none'");
    const list = f.obligations();
    expect(kinds(list)).toEqual(['select-version', 'write-attribution']);
    expect(list[0]?.sentence).toContain('still counts as the old version');
    expect(list[1]?.sentence).toContain(
      'counts a write as the new version\'s only when the session selects "v2" by search_path or tidal.version',
    );
    expect(list[1]?.sentence).toContain('`down` does not fill the old version\'s "legacy"');
  });

  it('a renamed column changes what the new version sees, with no trigger and nothing temporary', () => {
    const f = new Fixture();
    const users = f.table('users', column('id'), column('name', 'text'));
    f.renameColumn(users, 'name', 'full_name');
    expect(kinds(f.obligations())).toEqual(['select-version']);
  });
});

describe('types whose every value fits another', () => {
  it('knows the common widenings, and is unsure of the rest', () => {
    expect(alwaysFits('integer', 'bigint')).toBe(true);
    expect(alwaysFits('bigint', 'integer')).toBe(false);
    expect(alwaysFits('smallint', 'numeric')).toBe(true);
    expect(alwaysFits('real', 'double precision')).toBe(true);
    expect(alwaysFits('character varying(20)', 'text')).toBe(true);
    expect(alwaysFits('character varying(20)', 'character varying(30)')).toBe(true);
    expect(alwaysFits('character varying(30)', 'character varying(20)')).toBe(false);
    expect(alwaysFits('text', 'character varying(20)')).toBe(false);
    expect(alwaysFits('text', 'integer')).toBe(false);
    expect(alwaysFits('integer', 'numeric(5,0)')).toBe(false);
  });
});
