/**
 * pgroll's example chain, from the folder TIDAL_PGROLL_EXAMPLES names (see test/helpers/chains.ts;
 * there locally and in CI, not in a fresh clone), through the same harness as the project's own
 * chain. Skipped, saying why, when the folder is not there.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { columnNamesOf, columnOf, indexesOf, snapshotCatalog } from '../helpers/catalog.js';
import {
  type ChainSpec,
  chainStepByStep,
  plainChain,
  type RowCheck,
} from '../helpers/chain-run.js';
import { pgrollChain, pgrollExamples } from '../helpers/chains.js';
import { rows } from '../helpers/cycle.js';
import { withTidal } from '../helpers/tidal.js';

const examples = pgrollExamples();
const title = (what: string) =>
  `pgroll examples${what}${examples.skipped ? ` (${examples.skipped})` : ''}`;

/** For rows the old version wrote (or that existed before start): what the new version reads. */
const UP_CHECKS: Record<string, RowCheck[]> = {
  '03_add_column': [
    {
      table: 'products',
      holds: `description = UPPER(name) AND category = name || '-category' AND stock = 100`,
    },
  ],
  '06_add_column_to_sql_table': [{ table: 'users', holds: 'description = UPPER(name)' }],
  '17_add_rating_column': [{ table: 'reviews', holds: `rating = '0'` }],
  '26_add_column_with_check_constraint': [{ table: 'people', holds: 'age = 18' }],
  '30_add_column_simple_up': [{ table: 'people', holds: `description = 'temporary-description'` }],
  '39_add_column_with_multiple_pk_in_table': [{ table: 'sellers', holds: 'rating = 10' }],
  '41_add_enum_column': [{ table: 'fruits', holds: `size = 'small'` }],
  '53_add_column_with_volatile_default': [{ table: 'library', holds: 'value BETWEEN 0 AND 1000' }],
};

/**
 * Run through the old version after seeding, before start: data an example's `up` needs to
 * satisfy its new constraint (47's `up` is the identity, so every ticket must name a seller).
 */
const BEFORE_START: Record<string, string[]> = {
  '47_add_table_foreign_key_constraint': [
    `INSERT INTO sellers (name, zip) SELECT sellers_name, sellers_zip FROM tickets
      WHERE sellers_name IS NOT NULL AND sellers_zip IS NOT NULL ON CONFLICT DO NOTHING`,
  ],
};

/** 09_drop_column: a row the new version writes has `down` ("0") in the dropped column. */
const DOWN_CHECKS: Record<string, RowCheck[]> = {
  '09_drop_column': [{ table: 'fruits', holds: `price::text = '0.00'` }],
};

const spec: ChainSpec = {
  run: examples.found ? await pgrollChain(examples.dir) : { runs: [], leftOut: [] },
  upChecks: UP_CHECKS,
  downChecks: DOWN_CHECKS,
  beforeStart: BEFORE_START,
};

describe.skipIf(!examples.found)(title(''), () => {
  it('every example but the refused one runs', () => {
    expect(spec.run.runs).toHaveLength(55);
    expect(spec.run.leftOut.map((l) => l.file)).toEqual(['35_alter_column_multiple.yaml']);
  });
});

describe.skipIf(!examples.found)(title(': plain chain'), () => {
  const chain = plainChain(spec);

  it('refuses 35 before anything runs, naming its down', async () => {
    const db = chain.db();
    const [refused] = spec.run.leftOut;
    if (!refused) throw new Error('example 35 is missing');
    const before = await snapshotCatalog(db.pool);
    const error = await withTidal(db.url, (t) => t.start(refused.loaded)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(
      /35_alter_column_multiple\.yaml: operations\[0\]\.alter_column\.down: .*event_name/,
    );
    expect(await snapshotCatalog(db.pool)).toEqual(before);
  });

  it('leaves the schema the chain describes', async () => {
    const db = chain.db();
    expect(
      await names(db, `SELECT relname FROM pg_class WHERE ${inPublic} AND relkind = 'r'`),
    ).toEqual([
      'bills',
      'clients',
      'employees',
      'events',
      'fruits',
      'items',
      'library',
      'orders',
      'people',
      'phonebook',
      'posts',
      'products',
      'reviews',
      'sellers',
      'tasks',
      'telephone_providers',
      'tickets',
      'users',
    ]);
    // Each complete drops the previous version schema: only the last one is left.
    expect(
      await names(db, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'public\\_%'`),
    ).toEqual(['public_with_version_schema']);
    const views = await names(
      db,
      `SELECT relname FROM pg_class WHERE relnamespace = 'public_with_version_schema'::regnamespace AND relkind = 'v'`,
    );
    expect(views).toContain('products');
    expect(views).toContain('clients');
    expect(views).not.toContain('customers');

    expect(await columnNamesOf(db, 'fruits')).toEqual(['id', 'name', 'size']);
    expect(await columnNamesOf(db, 'people')).toEqual([
      'id',
      'name',
      'age',
      'description',
      'birth_date',
    ]);
    expect(await columnNamesOf(db, 'employees')).toEqual(['id', 'job_title']);
    expect(await columnNamesOf(db, 'products')).toEqual(['id', 'name']);

    const [description] = await columnOf(db, 'people', 'description');
    expect(description).toMatchObject({
      notnull: true,
      comment: 'This is a comment for the description column',
    });
    expect(await columnOf(db, 'employees', 'job_title')).toMatchObject([
      {
        comment: 'This is a comment for the role column',
      },
    ]);
    expect(await columnOf(db, 'fruits', 'size')).toMatchObject([
      {
        type: 'fruit_size',
        default: `'small'::fruit_size`,
      },
    ]);
    expect(await columnOf(db, 'products', 'category')).toEqual([]);

    const indexes = (await indexesOf(db, 'fruits')).filter((i) => i.name.startsWith('idx_'));
    expect(indexes.map((r) => r.name)).toEqual([
      'idx_fruits_custom_opclass',
      'idx_fruits_id_gt_10',
      'idx_fruits_name',
      'idx_fruits_unique_name',
    ]);
    expect(indexes.every((r) => r.valid)).toBe(true);
    const def = (name: string) => indexes.find((r) => r.name === name)?.def;
    expect(def('idx_fruits_id_gt_10')).toMatch(/USING btree \(id\) WHERE \(id > 10\)$/);
    expect(def('idx_fruits_name')).toMatch(/USING hash \(name\) WITH \(fillfactor='?70'?\)$/);
    expect(def('idx_fruits_unique_name')).toMatch(/^CREATE UNIQUE INDEX .* USING btree \(name\)$/);
    expect(def('idx_fruits_custom_opclass')).toMatch(/USING btree \(id\)$/);
  });
});

describe.skipIf(!examples.found)(title(': step by step with data'), () => {
  chainStepByStep(spec);
});

const inPublic = `relnamespace = 'public'::regnamespace`;

async function names(db: Queryable, sql: string): Promise<string[]> {
  return (await rows<Record<string, string>>(db, `${sql} ORDER BY 1`)).map(
    (r) => Object.values(r)[0] as string,
  );
}
