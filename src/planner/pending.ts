import { currentRole } from '../catalog/privileges.js';
import { readSchema } from '../catalog/read.js';
import { temporaryColumns } from '../catalog/temporary.js';
import type { SchemaInfo } from '../catalog/types.js';
import { InputError, messageOf } from '../errors.js';
import type { Migration } from '../migration/schema.js';
import { definitionStatements, standInStatement } from '../model/database-checks.js';
import type { Queryable } from '../pg/queryable.js';
import { rolledBack } from '../pg/rolled-back.js';
import { type CatalogAfter, catalogAfter } from './catalog-after.js';
import { type PlanStart, planMigration } from './plan.js';
import { rawSqlFootprint } from './raw-sql-footprint.js';

export interface PendingMigration {
  migration: Migration;
  file: string;
}

/** Raw SQL that planning cannot follow, and where it is. */
export interface UnfollowedSql {
  where: string;
  statement: string;
}

/** How far planning the pending migrations before any runs went. */
export interface PendingValidation {
  /** The first `validated` migrations were planned, each against the schema the ones before it
   *  leave. */
  validated: number;
  /** Why the ones after were not: raw SQL of migration `validated` that planning cannot follow
   *  (they are planned when their turn comes, as always). */
  stoppedBy?: UnfollowedSql;
}

/**
 * Plans every pending migration before the first one runs, each against the schema as the ones
 * before it will leave it once complete: the first against the live catalog, each next one
 * against the catalog derived from the previous one's plan (planner/catalog-after.ts) and raw
 * SQL (planner/raw-sql-footprint.ts). Throws the InputError of the first invalid migration. Runs
 * only read-only checks, in transactions that are rolled back.
 *
 * Sound rather than complete: where the schema a migration will start from cannot be known
 * (after raw SQL planning cannot follow), the migrations after it are left to be planned when
 * their turn comes, so that a valid chain is never refused.
 */
export async function validatePending(
  db: Queryable,
  pending: PendingMigration[],
  options: PendingOptions,
): Promise<PendingValidation> {
  const turns = planInTurn(db, pending, options);
  for (;;) {
    const turn = await turns.next();
    if (turn.done) return turn.value;
  }
}

export interface PendingOptions {
  schema: string;
  stateSchema: string;
  /** The version schema of the latest completed migration, before the pending ones. */
  previousVersionSchema: string | null;
}

/** One pending migration planned, and the start it was planned from (undefined: the live
 *  catalog). */
export interface PlannedTurn {
  file: string;
  start: PlanStart | undefined;
}

/** validatePending one migration at a time: yields each as it is planned. */
export async function* planInTurn(
  db: Queryable,
  pending: PendingMigration[],
  options: PendingOptions,
): AsyncGenerator<PlannedTurn, PendingValidation> {
  const { schema, stateSchema } = options;
  const sql = new RawSqlFollower(db, schema);
  let start: PlanStart | undefined;
  let previousVersionSchema = options.previousVersionSchema;
  let role: string | undefined;
  for (const [i, { migration, file }] of pending.entries()) {
    const { plan, model } = await planMigration(db, migration, {
      schema,
      stateSchema,
      file,
      previousVersionSchema,
      start,
    }).catch((error: unknown) => {
      if (i === 0 || !(error instanceof InputError)) throw error;
      const before = `${i} pending migration${i > 1 ? 's' : ''}`;
      throw new InputError(
        `${error.message}\n(checked against the schema the ${before} before it will leave; nothing was run)`,
      );
    });
    yield { file, start };
    if (i === pending.length - 1) break;
    role ??= await currentRole(db);
    const after = await catalogAfter(model, plan, role ?? '');
    const unfollowed = await sql.follow(migration, file, after);
    if (unfollowed) return { validated: i + 1, stoppedBy: unfollowed };
    start = {
      catalog: after.catalog,
      liveTables: after.liveTables,
      definitions: [...sql.definitions],
      versionSchemas: {
        made: new Set([plan.version.schema]),
        // Completing the first pending migration drops the version schema of the one before.
        gone: new Set(options.previousVersionSchema ? [options.previousVersionSchema] : []),
      },
    };
    previousVersionSchema = plan.version.schema;
  }
  return { validated: pending.length };
}

/** Carries what raw SQL of the pending migrations makes into the catalog after each. */
class RawSqlFollower {
  /** Statements that define types, functions and tables, in order, for checks to run first. */
  readonly definitions: string[] = [];
  /** Tables raw SQL made: in the catalog from the migration that made them on. */
  private readonly madeBySql = new Set<string>();
  private live: SchemaInfo | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly schema: string,
  ) {}

  /** Adds to `after` what the migration's raw SQL makes; what it cannot follow, if anything. */
  async follow(
    migration: Migration,
    file: string,
    after: CatalogAfter,
  ): Promise<UnfollowedSql | undefined> {
    const footprint = rawSqlFootprint(migration, file);
    if (!footprint.followed) return footprint;
    if (footprint.definitions.length > 0) {
      this.definitions.push(...footprint.definitions);
      const unfollowed = await this.addDefinedTables(after, `${file}: sql`);
      if (unfollowed) return unfollowed;
    }
    for (const addition of footprint.additions) {
      const table = after.catalog.tables.get(addition.table);
      if (!table) return addition;
      const columns = await this.inTransaction(async () => {
        await this.db.query(standInStatement(table));
        await this.db.query(addition.statement);
        return temporaryColumns(this.db, table.name);
      });
      if (typeof columns === 'string') return { ...addition, statement: columns };
      const added = columns.filter((c) => !table.columns.some((t) => t.name === c.name));
      table.columns.push(...added.map((c, i) => ({ ...c, attnum: table.attributes + i + 1 })));
      table.attributes += added.length;
      after.liveTables.delete(table.name);
    }
    return undefined;
  }

  /** The tables the definitions make, from a transaction in which they ran. */
  private async addDefinedTables(
    after: CatalogAfter,
    where: string,
  ): Promise<UnfollowedSql | undefined> {
    this.live ??= await readSchema(this.db, this.schema);
    const live = this.live;
    const defined = await this.inTransaction(() => readSchema(this.db, this.schema));
    if (typeof defined === 'string') return { where, statement: defined };
    for (const table of defined.tables.values()) {
      if (live.tables.has(table.name) || this.madeBySql.has(table.name)) continue;
      // Also made by an operation: the SQL fails when it runs, which planning does not see.
      if (after.catalog.tables.has(table.name))
        return { where, statement: `CREATE TABLE ${table.name}` };
      this.madeBySql.add(table.name);
      after.catalog.tables.set(table.name, table);
    }
    return undefined;
  }

  /**
   * Runs `work` in a transaction that is rolled back, after the definitions as the checks run
   * them; the error of the statement that failed, if one did (one at a time, to name it).
   * Unqualified table names find temporary tables first, and a lock timeout makes sure nothing
   * waits on a table of the application.
   */
  private inTransaction<T>(work: () => Promise<T>): Promise<T | string> {
    return rolledBack(this.db, [`SET LOCAL lock_timeout = '1s'`], async () => {
      let running = '';
      try {
        for (const statement of definitionStatements(this.definitions)) {
          running = `${statement.trim()}: `;
          await this.db.query(statement);
        }
        running = '';
        return await work();
      } catch (error) {
        return `${running}${messageOf(error)}`;
      }
    });
  }
}
