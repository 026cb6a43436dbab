/**
 * The chains of migrations the tests run (the project's own, and pgroll's examples when they are
 * there), planned from an empty database before any runs: each file is planned against a
 * catalog derived from the plans of the files before it. That catalog must be the one those
 * files leave once they ran: the same tables (with the attribute numbers they use, dropped
 * columns' included), columns with their types and nullability, constraints and indexes, by
 * the same names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSchema } from '../../src/catalog/read.js';
import type { SchemaInfo } from '../../src/catalog/types.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { ident } from '../../src/pg/quote.js';
import { type PlannedTurn, planInTurn } from '../../src/planner/pending.js';
import type { Tidal } from '../../src/tidal.js';
import { type ChainRun, ownChain, pgrollChain, pgrollExamples } from '../helpers/chains.js';
import { createTestDatabase, type TestDatabase, testServerMajor } from '../helpers/db.js';
import { withTidal } from '../helpers/tidal.js';

/** The catalog as comparable lines; types as the server spells them, defaults as whether there
 *  is one (a planned default is the expression as written, the catalog's as PostgreSQL prints
 *  it), a check's columns in any order. */
async function describeCatalog(db: Queryable, catalog: SchemaInfo): Promise<string[]> {
  const spelled = await spelledTypes(
    db,
    [...catalog.tables.values()].flatMap((t) => t.columns.map((c) => c.type)),
  );
  const lines: string[] = [];
  for (const t of catalog.tables.values()) {
    lines.push(`table ${t.name} attributes=${t.attributes} dropped=${t.droppedColumns}`);
    for (const c of t.columns) {
      const hasDefault = c.generated ? 'generated' : c.default !== null;
      lines.push(
        `column ${t.name}.${c.name} ${spelled.get(c.type)} null=${c.nullable} default=${hasDefault} identity=${c.identity}`,
      );
    }
    for (const c of t.constraints) {
      if (c.type === 'n') continue;
      const columns = c.type === 'c' ? [...c.columns].sort() : c.columns;
      const target = c.referencedTable
        ? ` -> ${c.referencedTable.name} (${c.referencedColumns.join(', ')})`
        : '';
      lines.push(`constraint ${t.name}.${c.name} ${c.type} (${columns.join(', ')})${target}`);
    }
    for (const i of t.indexes) {
      const keys = i.columns.slice(0, i.keyColumns).join(', ');
      lines.push(
        `index ${t.name}.${i.name} unique=${i.unique} primary=${i.primary} plain=${i.plain} (${keys})`,
      );
    }
  }
  return lines.sort();
}

/** Each type name as format_type spells it (`varchar(254)` is `character varying(254)`). */
async function spelledTypes(db: Queryable, types: string[]): Promise<Map<string, string>> {
  const spelled = new Map<string, string>();
  if (types.length === 0) return spelled;
  await db.query('BEGIN');
  try {
    await db.query(
      `CREATE TEMPORARY TABLE spelling (${types.map((t, i) => `${ident(`c${i}`)} ${t}`).join(', ')})`,
    );
    const { rows } = await db.query<{ n: number; type: string }>(
      `SELECT attnum::int - 1 AS n, format_type(atttypid, atttypmod) AS type FROM pg_attribute
        WHERE attrelid = 'pg_temp.spelling'::regclass AND attnum > 0`,
    );
    for (const r of rows) spelled.set(types[r.n] as string, r.type);
  } finally {
    await db.query('ROLLBACK');
  }
  return spelled;
}

function chainPlannedBeforeAnyRuns(load: () => Promise<ChainRun>): void {
  let db: TestDatabase;
  let run: ChainRun;
  const turns: PlannedTurn[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    run = await load();
  });
  afterAll(() => db?.dispose());

  it('plans every file from an empty database, each after the ones before it', async () => {
    const client = await db.client();
    const planning = planInTurn(client, run.runs, {
      schema: 'public',
      stateSchema: 'tidal',
      previousVersionSchema: null,
    });
    for (;;) {
      const turn = await planning.next();
      if (turn.done) {
        expect(turn.value).toEqual({ validated: run.runs.length });
        break;
      }
      turns.push(turn.value);
    }
  }, 120_000);

  it('plans each against the catalog the files before it leave', async () => {
    expect(turns).toHaveLength(run.runs.length);
    const client = await db.client();
    const differences: string[] = [];
    await withTidal(db.url, async (tidal: Tidal) => {
      for (const [i, loaded] of run.runs.entries()) {
        const start = turns[i]?.start;
        if (start) {
          const real = await describeCatalog(client, await readSchema(client, 'public'));
          const planned = await describeCatalog(client, start.catalog);
          for (const line of real.filter((l) => !planned.includes(l)))
            differences.push(`${loaded.migration.name}: planned without ${line}`);
          for (const line of planned.filter((l) => !real.includes(l)))
            differences.push(`${loaded.migration.name}: planned with ${line}`);
        }
        await tidal.start(loaded, { complete: true });
      }
    });
    expect(differences).toEqual([]);
  }, 300_000);
}

const serverMajor = await testServerMajor();

describe('own chain, planned before any of it runs', () => {
  chainPlannedBeforeAnyRuns(() => ownChain(serverMajor));
});

const examples = pgrollExamples();
describe.skipIf(!examples.found)(
  `pgroll examples, planned before any of them runs${examples.skipped ? ` (${examples.skipped})` : ''}`,
  () => {
    chainPlannedBeforeAnyRuns(() => pgrollChain(examples.dir));
  },
);
