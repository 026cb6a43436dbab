/**
 * The rules of `tidal lint`, as data: what each catches in plain SQL migrations, the lock the
 * statement takes and its effect on a live table, the safe way, and the tidal operation that
 * makes the same change safely. `fact` is the SQL a test runs on a real server to check the
 * lock and rewrite each rule states; the README's rule table is rendered from the same data.
 */
import type {
  AlterTableCmd,
  AlterTableStmt,
  ColumnDef,
  Constraint,
  Node,
  RangeVar,
  TypeName,
} from 'libpg-query';
import type { LockMode } from '../model/step.js';

export type LintLevel = 'error' | 'warning' | 'info';

/** One statement of a file, with where it sits. */
export interface LintStatement {
  node: Node;
  /** 1-based line and column of its first token. */
  line: number;
  column: number;
  /** Inside a DO block or a function body (reached through PL/pgSQL's parser). */
  inBody: boolean;
}

/** What earlier statements of the file established. */
export interface LintContext {
  /** Inside BEGIN ... COMMIT, or a DO block or function (which run in one transaction). */
  inTransaction: boolean;
  lockTimeoutSet: boolean;
  /** Tables created earlier in the file: nobody reads or writes them yet. */
  createdTables: Set<string>;
  /** Tables the open transaction holds a lock on that blocks their readers or writers. */
  strongLocks: Set<string>;
}

/** A lock a statement takes on a table other than its own (a foreign key's referenced table). */
export interface OtherTableLock {
  table: string;
  lock: LockMode;
}

/** A statement, its table, the lock and rewrite PostgreSQL is expected to show for it. */
export interface LockFact {
  setup: string[];
  sql: string;
  table: string;
  lock: LockMode;
  /** The locks it takes on the other tables of `setup`: none unless listed. */
  alsoLocks?: OtherTableLock[];
  rewrite: boolean;
}

export interface LintRule {
  id: string;
  level: LintLevel;
  title: string;
  /** The lock taken, in PostgreSQL's words, or null when the finding is not about a lock. */
  lock: string | null;
  /** What the statement does to a live table or to the running application. */
  effect: string;
  safe: string;
  /** The tidal operation that makes the same change safely. */
  tidal: string | null;
  /** A finding carries the statement converted to a tidal migration (lint/suggest.ts). */
  withMigration?: boolean;
  fact?: LockFact;
  /** The safe way on the same setup, where it runs in a transaction: `before` committed first,
   *  then `sql`, which must take `lock` and rewrite nothing. */
  safeFact?: { before: string[]; sql: string; lock: LockMode; alsoLocks?: OtherTableLock[] };
  /** Reported at the first statement that breaks it only (a file-wide omission). */
  oncePerFile?: boolean;
  /** The table the statement concerns when it breaks the rule, or '' when none applies. */
  check(statement: LintStatement, context: LintContext): string | null;
}

type Cmd = AlterTableCmd & { def?: Node };

/** `schema.table` as written, or `table`. */
export const tableName = (r: RangeVar | undefined) =>
  r ? [r.schemaname, r.relname].filter(Boolean).join('.') : '';

/** The ALTER TABLE commands of a statement on a table the file did not create. */
/** The ALTER TABLE commands of a statement, and the table they alter. */
function alterCommands(s: LintStatement): { table: string; cmds: Cmd[] } | null {
  if (!('AlterTableStmt' in s.node)) return null;
  const stmt = s.node.AlterTableStmt as AlterTableStmt;
  const cmds = (stmt.cmds ?? []).flatMap((n) => ('AlterTableCmd' in n ? [n.AlterTableCmd] : []));
  return { table: tableName(stmt.relation), cmds };
}

/** The table, when an ALTER TABLE of a table the file did not create has a command `test` holds for. */
function someCommand(s: LintStatement, c: LintContext, test: (cmd: Cmd) => boolean): string | null {
  const alter = alterCommands(s);
  if (!alter || c.createdTables.has(alter.table)) return null;
  return alter.cmds.some(test) ? alter.table : null;
}

function detachesPartition(cmd: Cmd, concurrently: boolean): boolean {
  const def = cmd.def;
  return (
    cmd.subtype === 'AT_DetachPartition' &&
    !!(def && 'PartitionCmd' in def && def.PartitionCmd.concurrent) === concurrently
  );
}

function constraintOf(cmd: Cmd): Constraint | undefined {
  return cmd.subtype === 'AT_AddConstraint' && cmd.def && 'Constraint' in cmd.def
    ? cmd.def.Constraint
    : undefined;
}

function columnDefOf(cmd: Cmd): ColumnDef | undefined {
  return cmd.def && 'ColumnDef' in cmd.def ? cmd.def.ColumnDef : undefined;
}

/** Functions whose value changes per row: as a column default they force a table rewrite. */
const VOLATILE = new Set([
  'random',
  'clock_timestamp',
  'timeofday',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v1mc',
  'uuid_generate_v4',
  'uuidv4',
  'uuidv7',
  'nextval',
  'txid_current',
]);

function callsVolatile(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if ('FuncCall' in node) {
    const names = ((node as { FuncCall: { funcname?: Node[] } }).FuncCall.funcname ?? []).map(
      (n) => ('String' in n ? n.String.sval : ''),
    );
    if (VOLATILE.has(names.at(-1) ?? '')) return true;
  }
  return Object.values(node).some(callsVolatile);
}

/** `pg_catalog.int4` -> `int4`; `serial` stays. */
function typeOf(t: TypeName | undefined): { name: string; modifiers: number } {
  const names = (t?.names ?? []).map((n) => ('String' in n ? n.String.sval : ''));
  return { name: names.at(-1) ?? '', modifiers: t?.typmods?.length ?? 0 };
}

/** Every column definition a statement declares: CREATE TABLE, ADD COLUMN, ALTER TYPE. */
function columnDefinitions(s: LintStatement): ColumnDef[] {
  if ('CreateStmt' in s.node)
    return (s.node.CreateStmt.tableElts ?? []).flatMap((n) =>
      'ColumnDef' in n ? [n.ColumnDef] : [],
    );
  return (alterCommands(s)?.cmds ?? []).flatMap((cmd) => {
    if (cmd.subtype !== 'AT_AddColumn' && cmd.subtype !== 'AT_AlterColumnType') return [];
    const def = columnDefOf(cmd);
    return def ? [def] : [];
  });
}

function statementTable(s: LintStatement): string {
  if ('CreateStmt' in s.node) return tableName(s.node.CreateStmt.relation);
  if ('AlterTableStmt' in s.node) return tableName(s.node.AlterTableStmt.relation);
  return '';
}

/** Types whose column gets a default of its own (a sequence): NOT NULL needs no other. */
const SERIAL = new Set(['serial', 'bigserial', 'smallserial', 'serial2', 'serial4', 'serial8']);

/** An added column that is NOT NULL (or a primary key) with nothing to give the rows already
 *  there a value: no default, not identity, not generated, not serial. */
function requiredWithoutValue(def: ColumnDef | undefined): boolean {
  if (!def) return false;
  const kinds = new Set(
    (def.constraints ?? []).flatMap((n) => ('Constraint' in n ? [n.Constraint.contype] : [])),
  );
  const required = kinds.has('CONSTR_NOTNULL') || kinds.has('CONSTR_PRIMARY');
  const valued =
    kinds.has('CONSTR_DEFAULT') ||
    kinds.has('CONSTR_IDENTITY') ||
    kinds.has('CONSTR_GENERATED') ||
    SERIAL.has(typeOf(def.typeName).name);
  return required && !valued;
}

type Bound = 'lower' | 'upper' | 'both';

/** The column a comparison bounds and on which side, for `column OP value` either way round. */
function comparisonBound(node: Node): { column: string; bound: Bound } | null {
  if (!('A_Expr' in node)) return null;
  const e = node.A_Expr;
  const column = (n: Node | undefined) =>
    n && 'ColumnRef' in n
      ? (n.ColumnRef.fields ?? [])
          .flatMap((f) => ('String' in f ? [f.String.sval ?? ''] : []))
          .at(-1)
      : undefined;
  const op = (e.name ?? []).flatMap((n) => ('String' in n ? [n.String.sval] : []))[0];
  if (e.kind === 'AEXPR_BETWEEN' || e.kind === 'AEXPR_BETWEEN_SYM') {
    const c = column(e.lexpr);
    return c ? { column: c, bound: 'both' } : null;
  }
  if ((e.kind === 'AEXPR_IN' || e.kind === 'AEXPR_OP_ANY') && op === '=') {
    const c = column(e.lexpr);
    return c ? { column: c, bound: 'both' } : null;
  }
  if (e.kind !== 'AEXPR_OP' || !op) return null;
  const left = column(e.lexpr);
  const right = column(e.rexpr);
  if ((left === undefined) === (right === undefined)) return null;
  const flipped: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '=': '=' };
  const side = left !== undefined ? op : flipped[op];
  const bound: Bound | null =
    side === '='
      ? 'both'
      : side === '>' || side === '>='
        ? 'lower'
        : side === '<' || side === '<='
          ? 'upper'
          : null;
  return bound ? { column: (left ?? right) as string, bound } : null;
}

/**
 * Whether a WHERE clause confines a statement to a bounded range of one column: some condition
 * it requires (one of its top-level ANDs) is `=`, `IN`, `= ANY` or `BETWEEN` on a column, or
 * two of them bound the same column from below and from above. A one-sided condition
 * (`created_at < now() - interval '1 day'`) can still take every row.
 */
function boundedRange(where: Node | undefined): boolean {
  if (!where) return false;
  const conjuncts =
    'BoolExpr' in where && where.BoolExpr.boolop === 'AND_EXPR'
      ? (where.BoolExpr.args ?? [])
      : [where];
  const sides = new Map<string, Set<Bound>>();
  for (const conjunct of conjuncts) {
    const found = comparisonBound(conjunct);
    if (!found) continue;
    if (found.bound === 'both') return true;
    const seen = sides.get(found.column) ?? new Set<Bound>();
    seen.add(found.bound);
    if (seen.size === 2) return true;
    sides.set(found.column, seen);
  }
  return false;
}

const table = (name: string) => ({
  setup: [
    `CREATE TABLE ${name} (id int PRIMARY KEY, n int, note text)`,
    `INSERT INTO ${name} SELECT g, g, 'x' FROM generate_series(1, 100) g`,
  ],
});

export const RULES: LintRule[] = [
  {
    id: 'add-column-volatile-default',
    level: 'error',
    title: 'column added with a volatile default',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'rewrites the whole table while every query on it waits',
    safe: 'add the column without a default, fill it in batches, then set the default',
    tidal: 'add_column with `up`',
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t ADD COLUMN r float8 DEFAULT random()',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: true,
    },
    safeFact: { before: [], sql: 'ALTER TABLE t ADD COLUMN r float8', lock: 'AccessExclusive' },
    check: (s, c) =>
      someCommand(s, c, (cmd) => {
        if (cmd.subtype !== 'AT_AddColumn') return false;
        return (columnDefOf(cmd)?.constraints ?? []).some(
          (n) =>
            'Constraint' in n &&
            n.Constraint.contype === 'CONSTR_DEFAULT' &&
            callsVolatile(n.Constraint.raw_expr),
        );
      }),
  },
  {
    id: 'add-column-not-null-without-default',
    level: 'error',
    title: 'NOT NULL column added without a default',
    lock: 'ACCESS EXCLUSIVE',
    effect:
      'fails on a table that has rows (they have no value for the column), after queuing every query on the table behind its lock',
    safe: 'add the column nullable, fill it in batches, then add CHECK (column IS NOT NULL) NOT VALID, validate it and SET NOT NULL',
    tidal: 'add_column with `nullable: false` and `up` (the value for the rows already there)',
    withMigration: true,
    check: (s, c) =>
      someCommand(
        s,
        c,
        (cmd) => cmd.subtype === 'AT_AddColumn' && requiredWithoutValue(columnDefOf(cmd)),
      ),
  },
  {
    id: 'set-not-null',
    level: 'warning',
    title: 'SET NOT NULL on an existing column',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'reads every row while every query on the table waits',
    safe: 'add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (PostgreSQL 12+ skips the scan)',
    tidal: 'alter_column with `nullable: false`',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t ALTER COLUMN n SET NOT NULL',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    safeFact: {
      before: ['ALTER TABLE t ADD CONSTRAINT n_nn CHECK (n IS NOT NULL) NOT VALID'],
      sql: 'ALTER TABLE t VALIDATE CONSTRAINT n_nn',
      lock: 'ShareUpdateExclusive',
    },
    check: (s, c) => someCommand(s, c, (cmd) => cmd.subtype === 'AT_SetNotNull'),
  },
  {
    id: 'add-check-validated',
    level: 'error',
    title: 'CHECK constraint added without NOT VALID',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'reads every row while every query on the table waits',
    safe: 'ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE: reads and writes go on)',
    tidal: 'create_constraint with `type: check`',
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t ADD CONSTRAINT n_positive CHECK (n > 0)',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    safeFact: {
      before: ['ALTER TABLE t ADD CONSTRAINT n_positive CHECK (n > 0) NOT VALID'],
      sql: 'ALTER TABLE t VALIDATE CONSTRAINT n_positive',
      lock: 'ShareUpdateExclusive',
    },
    check: (s, c) =>
      someCommand(s, c, (cmd) => {
        const con = constraintOf(cmd);
        return con?.contype === 'CONSTR_CHECK' && !con.skip_validation;
      }),
  },
  {
    id: 'add-foreign-key-validated',
    level: 'error',
    title: 'foreign key added without NOT VALID',
    lock: 'SHARE ROW EXCLUSIVE',
    effect: 'reads every row; writes to this table and the referenced one wait',
    safe: 'ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT',
    tidal: 'create_constraint with `type: foreign_key`, or alter_column with `references`',
    withMigration: true,
    fact: {
      setup: [
        ...table('t').setup,
        'CREATE TABLE parent (id int PRIMARY KEY)',
        'INSERT INTO parent SELECT generate_series(1, 100)',
      ],
      sql: 'ALTER TABLE t ADD CONSTRAINT t_parent FOREIGN KEY (n) REFERENCES parent (id)',
      table: 't',
      lock: 'ShareRowExclusive',
      alsoLocks: [{ table: 'parent', lock: 'ShareRowExclusive' }],
      rewrite: false,
    },
    safeFact: {
      before: [
        'ALTER TABLE t ADD CONSTRAINT t_parent FOREIGN KEY (n) REFERENCES parent (id) NOT VALID',
      ],
      sql: 'ALTER TABLE t VALIDATE CONSTRAINT t_parent',
      lock: 'ShareUpdateExclusive',
      // Every row's key is looked up in the referenced table.
      alsoLocks: [{ table: 'parent', lock: 'RowShare' }],
    },
    check: (s, c) =>
      someCommand(s, c, (cmd) => {
        const con = constraintOf(cmd);
        return con?.contype === 'CONSTR_FOREIGN' && !con.skip_validation;
      }),
  },
  {
    id: 'add-unique-constraint',
    level: 'error',
    title: 'UNIQUE or PRIMARY KEY constraint that builds its index',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'builds the index while every query on the table waits',
    safe: 'CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX',
    tidal: 'create_constraint with `type: unique`',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t ADD CONSTRAINT n_unique UNIQUE (n)',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    safeFact: {
      before: ['CREATE UNIQUE INDEX n_unique_index ON t (n)'],
      sql: 'ALTER TABLE t ADD CONSTRAINT n_unique UNIQUE USING INDEX n_unique_index',
      lock: 'AccessExclusive',
    },
    check: (s, c) =>
      someCommand(s, c, (cmd) => {
        const con = constraintOf(cmd);
        return (
          (con?.contype === 'CONSTR_UNIQUE' || con?.contype === 'CONSTR_PRIMARY') && !con.indexname
        );
      }),
  },
  {
    id: 'alter-column-type',
    level: 'error',
    title: "column's type changed in place",
    lock: 'ACCESS EXCLUSIVE',
    effect:
      'rewrites the table and its indexes while every query waits (unless the types are binary compatible, e.g. varchar(n) to text); the running application may break on the new type',
    safe: 'add a column of the new type, keep both in sync with a trigger, fill it in batches, then swap',
    tidal: 'alter_column with `type` (tidal finds out whether PostgreSQL would rewrite)',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t ALTER COLUMN n TYPE bigint',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: true,
    },
    safeFact: { before: [], sql: 'ALTER TABLE t ADD COLUMN n_new bigint', lock: 'AccessExclusive' },
    check: (s, c) => someCommand(s, c, (cmd) => cmd.subtype === 'AT_AlterColumnType'),
  },
  {
    id: 'create-index-not-concurrently',
    level: 'error',
    title: 'index built without CONCURRENTLY',
    lock: 'SHARE',
    effect: 'reads every row while inserts, updates and deletes on the table wait',
    safe: 'CREATE INDEX CONCURRENTLY, outside a transaction block',
    tidal: 'create_index',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'CREATE INDEX t_n ON t (n)',
      table: 't',
      lock: 'Share',
      rewrite: false,
    },
    check: (s, c) => {
      if (!('IndexStmt' in s.node) || s.node.IndexStmt.concurrent) return null;
      const name = tableName(s.node.IndexStmt.relation);
      return c.createdTables.has(name) ? null : name;
    },
  },
  {
    id: 'drop-index-not-concurrently',
    level: 'warning',
    title: 'index dropped without CONCURRENTLY',
    lock: 'ACCESS EXCLUSIVE',
    effect: "waits for every query on the index's table, and every query waits for it",
    safe: 'DROP INDEX CONCURRENTLY, outside a transaction block',
    tidal: 'drop_index',
    withMigration: true,
    fact: {
      setup: [...table('t').setup, 'CREATE INDEX t_n ON t (n)'],
      sql: 'DROP INDEX t_n',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    check: (s) =>
      'DropStmt' in s.node &&
      s.node.DropStmt.removeType === 'OBJECT_INDEX' &&
      !s.node.DropStmt.concurrent
        ? ''
        : null,
  },
  {
    id: 'concurrently-in-transaction',
    level: 'error',
    title: 'CONCURRENTLY inside a transaction',
    lock: null,
    effect: 'fails: PostgreSQL runs CONCURRENTLY only outside a transaction block',
    safe: 'run the statement on its own, outside BEGIN ... COMMIT, a DO block or a function (most migration tools have a per-file switch)',
    tidal: 'create_index, drop_index',
    check: (s, c) => {
      if (!c.inTransaction) return null;
      const n = s.node;
      if ('IndexStmt' in n && n.IndexStmt.concurrent) return tableName(n.IndexStmt.relation);
      if ('DropStmt' in n && n.DropStmt.concurrent) return '';
      if (
        'ReindexStmt' in n &&
        JSON.stringify(n.ReindexStmt.params ?? []).includes('"concurrently"')
      )
        return '';
      if ('RefreshMatViewStmt' in n && n.RefreshMatViewStmt.concurrent) return '';
      // Fails whatever the table: a table the file created is no exception.
      const alter = alterCommands(s);
      return alter?.cmds.some((cmd) => detachesPartition(cmd, true)) ? alter.table : null;
    },
  },
  {
    id: 'rename-column',
    level: 'warning',
    title: 'column renamed',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'breaks the application version still running, which uses the old name',
    safe: 'expand and contract: a new column kept in sync until no running version uses the old one',
    tidal: 'rename_column (both names work until complete)',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t RENAME COLUMN note TO remark',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    check: (s) =>
      'RenameStmt' in s.node && s.node.RenameStmt.renameType === 'OBJECT_COLUMN'
        ? tableName(s.node.RenameStmt.relation)
        : null,
  },
  {
    id: 'rename-table',
    level: 'warning',
    title: 'table renamed',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'breaks the application version still running, which uses the old name',
    safe: 'expand and contract: a view under the new name until no running version uses the old one',
    tidal: 'rename_table (both names work until complete)',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t RENAME TO t2',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    check: (s) =>
      'RenameStmt' in s.node && s.node.RenameStmt.renameType === 'OBJECT_TABLE'
        ? tableName(s.node.RenameStmt.relation)
        : null,
  },
  {
    id: 'drop-column',
    level: 'warning',
    title: 'column dropped',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'breaks the application version still running if it reads or writes the column',
    safe: 'stop using the column in every running version first, then drop it',
    tidal: 'drop_column (the old version keeps it until complete)',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t DROP COLUMN note',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    check: (s, c) => someCommand(s, c, (cmd) => cmd.subtype === 'AT_DropColumn'),
  },
  {
    id: 'drop-table',
    level: 'warning',
    title: 'table dropped',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'breaks the application version still running if it uses the table',
    safe: 'stop using the table in every running version first, then drop it',
    tidal: 'drop_table (the old version keeps it until complete)',
    withMigration: true,
    fact: {
      ...table('t'),
      sql: 'DROP TABLE t',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: false,
    },
    check: (s) =>
      'DropStmt' in s.node && s.node.DropStmt.removeType === 'OBJECT_TABLE' ? '' : null,
  },
  {
    id: 'missing-lock-timeout',
    level: 'warning',
    title: 'lock taken with no lock_timeout set',
    lock: null,
    effect:
      'a statement that waits for its lock (behind one long transaction) makes every later query on the table wait behind it: an outage',
    safe: "SET lock_timeout = '1s' (or SET LOCAL in a transaction) before the first DDL, and retry on timeout",
    tidal: 'every tidal statement runs with lock_timeout and retries with backoff',
    oncePerFile: true,
    check: (s, c) => {
      if (c.lockTimeoutSet) return null;
      const n = s.node;
      const ddl =
        ('AlterTableStmt' in n && !c.createdTables.has(tableName(n.AlterTableStmt.relation))) ||
        ('IndexStmt' in n &&
          !n.IndexStmt.concurrent &&
          !c.createdTables.has(tableName(n.IndexStmt.relation))) ||
        'RenameStmt' in n ||
        ('DropStmt' in n && !n.DropStmt.concurrent);
      return ddl ? statementTable(s) : null;
    },
  },
  {
    id: 'several-strong-locks',
    level: 'warning',
    title: 'strong locks on several tables in one transaction',
    lock: 'ACCESS EXCLUSIVE (or SHARE, SHARE ROW EXCLUSIVE)',
    effect:
      'each lock is held until COMMIT, so every table locked earlier stays blocked while the later statements wait and run; it also invites deadlocks with the application',
    safe: 'one table per transaction, each statement with a short lock_timeout',
    tidal: 'tidal runs each statement in its own short transaction',
    check: (s, c) => {
      if (!c.inTransaction) return null;
      const locked = strongLockTable(s, c);
      return locked !== null && [...c.strongLocks].some((t) => t !== locked) ? locked : null;
    },
  },
  {
    id: 'unbatched-update',
    level: 'warning',
    title: 'UPDATE or DELETE over a whole table in one statement (no bounded key range)',
    lock: 'ROW EXCLUSIVE',
    effect:
      'one long transaction that locks every row it changes until it commits, blocking the application writing them, and a burst of WAL that replicas lag behind',
    safe: 'update in batches of a few thousand rows by key range, each its own transaction',
    tidal:
      "add_column or alter_column with `up`: tidal's backfill is batched, throttled and resumable",
    check: (s, c) => {
      const target =
        'UpdateStmt' in s.node
          ? { relation: s.node.UpdateStmt.relation, where: s.node.UpdateStmt.whereClause }
          : 'DeleteStmt' in s.node
            ? { relation: s.node.DeleteStmt.relation, where: s.node.DeleteStmt.whereClause }
            : null;
      if (!target) return null;
      const name = tableName(target.relation);
      // A table the file created has no rows and no readers yet.
      if (c.createdTables.has(name) || boundedRange(target.where)) return null;
      return name;
    },
  },
  {
    id: 'add-column-generated-stored',
    level: 'error',
    title: 'stored generated column added',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'rewrites the whole table to compute the column while every query on it waits',
    safe: 'add a plain column, fill it in batches and keep it in sync with a trigger',
    tidal: 'add_column with `up` (the dual-write trigger keeps it in sync)',
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t ADD COLUMN n2 int GENERATED ALWAYS AS (n * 2) STORED',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: true,
    },
    check: (s, c) =>
      someCommand(
        s,
        c,
        (cmd) =>
          cmd.subtype === 'AT_AddColumn' &&
          (columnDefOf(cmd)?.constraints ?? []).some(
            (n) => 'Constraint' in n && n.Constraint.contype === 'CONSTR_GENERATED',
          ),
      ),
  },
  {
    id: 'truncate',
    level: 'error',
    title: 'TRUNCATE',
    lock: 'ACCESS EXCLUSIVE',
    effect:
      'empties the table at once, every row gone for the version still running, while every query on it waits; CASCADE empties the tables that reference it too',
    safe: 'DELETE in batches by key range, naming each table',
    tidal: null,
    fact: { ...table('t'), sql: 'TRUNCATE t', table: 't', lock: 'AccessExclusive', rewrite: true },
    check: (s, c) => {
      if (!('TruncateStmt' in s.node)) return null;
      const tables = (s.node.TruncateStmt.relations ?? []).flatMap((n) =>
        'RangeVar' in n ? [tableName(n.RangeVar)] : [],
      );
      const live = tables.filter((t) => !c.createdTables.has(t));
      return live.length > 0 ? (live[0] ?? '') : null;
    },
  },
  {
    id: 'reindex-not-concurrently',
    level: 'error',
    title: 'REINDEX without CONCURRENTLY',
    lock: 'SHARE (ACCESS EXCLUSIVE on the index)',
    effect:
      'blocks every write to the table, and every query that would use the index, until the rebuild ends',
    safe: 'REINDEX ... CONCURRENTLY (PostgreSQL 12+), outside a transaction block',
    tidal: null,
    fact: {
      setup: [...table('t').setup, 'CREATE INDEX t_n ON t (n)'],
      sql: 'REINDEX TABLE t',
      table: 't',
      lock: 'Share',
      rewrite: false,
    },
    check: (s) => {
      if (!('ReindexStmt' in s.node)) return null;
      const r = s.node.ReindexStmt;
      const concurrent = (r.params ?? []).some(
        (p) => 'DefElem' in p && p.DefElem.defname === 'concurrently',
      );
      return concurrent ? null : tableName(r.relation);
    },
  },
  {
    id: 'set-logged-unlogged',
    level: 'error',
    title: 'SET LOGGED or SET UNLOGGED on a table',
    lock: 'ACCESS EXCLUSIVE',
    effect:
      'rewrites the whole table while every query on it waits (and UNLOGGED loses its rows in a crash and on standbys)',
    safe: 'leave a live table as it is; make a new table and move to it',
    tidal: null,
    fact: {
      ...table('t'),
      sql: 'ALTER TABLE t SET UNLOGGED',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: true,
    },
    check: (s, c) =>
      someCommand(
        s,
        c,
        (cmd) => cmd.subtype === 'AT_SetLogged' || cmd.subtype === 'AT_SetUnLogged',
      ),
  },
  {
    id: 'vacuum-full',
    level: 'error',
    title: 'VACUUM FULL',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'rewrites the table while every query on it waits',
    safe: 'pg_repack or pg_squeeze, or plain VACUUM',
    tidal: null,
    check: (s) =>
      'VacuumStmt' in s.node &&
      JSON.stringify(s.node.VacuumStmt.options ?? []).includes('"defname":"full"')
        ? ''
        : null,
  },
  {
    id: 'cluster',
    level: 'error',
    title: 'CLUSTER',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'rewrites the table in index order while every query on it waits',
    safe: 'pg_repack --order-by',
    tidal: null,
    fact: {
      setup: [...table('t').setup, 'CREATE INDEX t_n ON t (n)'],
      sql: 'CLUSTER t USING t_n',
      table: 't',
      lock: 'AccessExclusive',
      rewrite: true,
    },
    check: (s) => ('ClusterStmt' in s.node ? tableName(s.node.ClusterStmt.relation) : null),
  },
  {
    id: 'refresh-matview-not-concurrently',
    level: 'warning',
    title: 'materialized view refreshed without CONCURRENTLY',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'queries reading the view wait until the refresh ends',
    safe: 'REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)',
    tidal: null,
    fact: {
      setup: [...table('t').setup, 'CREATE MATERIALIZED VIEW mv AS SELECT * FROM t'],
      sql: 'REFRESH MATERIALIZED VIEW mv',
      table: 'mv',
      lock: 'AccessExclusive',
      // The view's query reads its tables.
      alsoLocks: [{ table: 't', lock: 'AccessShare' }],
      rewrite: true,
    },
    safeFact: {
      before: ['CREATE UNIQUE INDEX mv_id ON mv (id)'],
      sql: 'REFRESH MATERIALIZED VIEW CONCURRENTLY mv',
      lock: 'Exclusive',
      alsoLocks: [{ table: 't', lock: 'AccessShare' }],
    },
    check: (s) =>
      'RefreshMatViewStmt' in s.node && !s.node.RefreshMatViewStmt.concurrent
        ? tableName(s.node.RefreshMatViewStmt.relation)
        : null,
  },
  {
    id: 'detach-partition-not-concurrently',
    level: 'warning',
    title: 'partition detached without CONCURRENTLY',
    lock: 'ACCESS EXCLUSIVE',
    effect: 'every query on the partitioned table waits while it runs',
    safe: 'DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+), outside a transaction block',
    tidal: null,
    fact: {
      setup: [
        'CREATE TABLE p (id int, n int) PARTITION BY RANGE (id)',
        'CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (1000)',
      ],
      sql: 'ALTER TABLE p DETACH PARTITION p1',
      table: 'p',
      lock: 'AccessExclusive',
      alsoLocks: [{ table: 'p1', lock: 'AccessExclusive' }],
      rewrite: false,
    },
    check: (s, c) => someCommand(s, c, (cmd) => detachesPartition(cmd, false)),
  },
  {
    id: 'alter-enum',
    level: 'warning',
    title: 'enum type changed',
    lock: null,
    effect:
      'ADD VALUE cannot be used in the transaction that adds it, values cannot be removed, and a running version that does not know a new value fails on it',
    safe: 'a lookup table or a text column with a CHECK constraint, which can change without these limits',
    tidal: 'raw_sql for the type change, or a check constraint through create_constraint',
    check: (s) => ('AlterEnumStmt' in s.node ? '' : null),
  },
  {
    id: 'prefer-jsonb',
    level: 'warning',
    title: 'json column',
    lock: null,
    effect: 'json keeps the text as written: no indexing, no equality, slower to query',
    safe: 'jsonb',
    tidal: null,
    check: (s) =>
      columnDefinitions(s).some((d) => typeOf(d.typeName).name === 'json')
        ? statementTable(s)
        : null,
  },
  {
    id: 'prefer-timestamptz',
    level: 'warning',
    title: 'timestamp without time zone',
    lock: null,
    effect: 'values lose their time zone: wrong results as soon as sessions use different zones',
    safe: 'timestamptz',
    tidal: null,
    check: (s) =>
      columnDefinitions(s).some((d) => typeOf(d.typeName).name === 'timestamp')
        ? statementTable(s)
        : null,
  },
  {
    id: 'prefer-bigint-key',
    level: 'warning',
    title: 'primary key of int, smallint or serial',
    lock: null,
    effect: 'runs out at 2^31 rows; widening it later rewrites the table and every referencing one',
    safe: 'bigint (bigserial, or bigint GENERATED ALWAYS AS IDENTITY)',
    tidal: 'alter_column with `type: bigint` widens it without downtime when it is late',
    check: (s) => {
      const small = new Set([
        'int4',
        'int2',
        'serial',
        'serial4',
        'smallserial',
        'serial2',
        'int',
        'integer',
        'smallint',
      ]);
      const primary = (d: ColumnDef) =>
        (d.constraints ?? []).some(
          (n) => 'Constraint' in n && n.Constraint.contype === 'CONSTR_PRIMARY',
        );
      return columnDefinitions(s).some((d) => primary(d) && small.has(typeOf(d.typeName).name))
        ? statementTable(s)
        : null;
    },
  },
  {
    id: 'prefer-text',
    level: 'info',
    title: 'varchar(n)',
    lock: null,
    effect: 'a length limit that needs a type change (and before PostgreSQL 9.2 a rewrite) to lift',
    safe: 'text, with a CHECK (length(column) <= n) if the limit matters',
    tidal: null,
    check: (s) =>
      columnDefinitions(s).some((d) => {
        const t = typeOf(d.typeName);
        return t.name === 'varchar' && t.modifiers > 0;
      })
        ? statementTable(s)
        : null,
  },
];

/** The table a statement takes a lock on that blocks the table's readers or writers, if any
 *  (tables the file created itself do not count: nobody uses them yet). */
export function strongLockTable(s: LintStatement, c: LintContext): string | null {
  const n = s.node;
  let name: string | null = null;
  if ('AlterTableStmt' in n) name = tableName(n.AlterTableStmt.relation);
  else if ('IndexStmt' in n && !n.IndexStmt.concurrent) name = tableName(n.IndexStmt.relation);
  else if ('RenameStmt' in n && n.RenameStmt.relation) name = tableName(n.RenameStmt.relation);
  else if ('ClusterStmt' in n) name = tableName(n.ClusterStmt.relation);
  else if ('RefreshMatViewStmt' in n && !n.RefreshMatViewStmt.concurrent)
    name = tableName(n.RefreshMatViewStmt.relation);
  return name !== null && !c.createdTables.has(name) ? name : null;
}
