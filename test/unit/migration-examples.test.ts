/** Reading the chains' files offline: the project's own chain, and pgroll's examples when their
 *  folder is there (see test/helpers/chains.ts). */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { listMigrationFiles, loadMigrationFile } from '../../src/migration/load.js';
import type { Operation, OperationKind, OperationOptions } from '../../src/migration/schema.js';
import { OWN_CHAIN_DIR, pgrollExamples } from '../helpers/chains.js';

const pgroll = pgrollExamples();
const exampleFiles = pgroll.found ? migrationFilesOf(pgroll.dir) : [];
const ownFiles = migrationFilesOf(OWN_CHAIN_DIR);

function migrationFilesOf(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.(ya?ml|json)$/.test(name))
    .sort();
}

async function loadExample(name: string) {
  return loadMigrationFile(join(pgroll.dir, name));
}

async function loadOwn(name: string) {
  return loadMigrationFile(join(OWN_CHAIN_DIR, name));
}

function optionsOf<K extends OperationKind>(operation: Operation | undefined, kind: K) {
  expect(operation?.kind).toBe(kind);
  return operation?.options as OperationOptions<K>;
}

/** Each file of `dir` loads, validates and is stored as it is; they list in file-name order. */
function describeFiles(dir: string, files: string[]): void {
  test.each(files)('%s loads and validates', async (name) => {
    const loaded = await loadMigrationFile(join(dir, name));
    const bytes = readFileSync(join(dir, name));
    expect(loaded.migration.name).toBe(name.replace(/\.(ya?ml|json)$/, ''));
    expect(loaded.migration.operations.length).toBeGreaterThan(0);
    expect(loaded.content).toBe(bytes.toString('utf8'));
    expect(loaded.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  test('listMigrationFiles returns them in file-name order', async () => {
    const listed = await listMigrationFiles(dir);
    expect(listed.map((file) => file.slice(dir.length + 1))).toEqual(files);
  });
}

describe('own chain', () => {
  test('21 files, YAML and JSON', () => {
    expect(ownFiles).toHaveLength(21);
    expect(ownFiles.filter((name) => name.endsWith('.json'))).toEqual(['02_create_products.json']);
  });

  describeFiles(OWN_CHAIN_DIR, ownFiles);

  test('defaults are filled in, and a declared name must be the file name (01_create_customers)', async () => {
    const { migration } = await loadOwn('01_create_customers.yaml');
    expect(migration.versionSchema).toBe('01_create_customers');
    const table = optionsOf(migration.operations[0], 'create_table');
    expect(table.columns[0]).toEqual({
      name: 'id',
      type: 'bigint',
      pk: true,
      nullable: false,
      unique: false,
      generated: {
        identity: {
          user_specified_values: 'BY DEFAULT',
          sequence_options: 'START WITH 1000 INCREMENT BY 1',
        },
      },
    });
    expect(table.columns[1]?.check).toEqual({
      name: 'customers_email_length',
      constraint: 'length(email) >= 3',
      no_inherit: false,
    });
  });

  test('a JSON file reads as its YAML twin would (02_create_products)', async () => {
    const table = optionsOf(
      (await loadOwn('02_create_products.json')).migration.operations[0],
      'create_table',
    );
    expect(table.columns.map((c) => c.name)).toEqual([
      'id',
      'sku',
      'title',
      'price',
      'compare_at_price',
      'search',
    ]);
    expect(table.columns[5]?.generated).toEqual({ expression: "to_tsvector('simple', title)" });
    expect(table.constraints?.[0]).toMatchObject({ type: 'check', no_inherit: true });
  });

  test('version_schema overrides the name (09_rename_order_items)', async () => {
    const { migration } = await loadOwn('09_rename_order_items.yaml');
    expect(migration.name).toBe('09_rename_order_items');
    expect(migration.versionSchema).toBe('order_items');
  });

  test('alter_column keeps null apart from absent (10_customer_contact)', async () => {
    const [, , email, placedAt] = (await loadOwn('10_customer_contact.yaml')).migration.operations;
    const comment = optionsOf(email, 'alter_column');
    expect(comment.comment).toBeNull();
    expect('default' in comment).toBe(false);
    const dropDefault = optionsOf(placedAt, 'alter_column');
    expect(dropDefault.default).toBeNull();
    expect('comment' in dropDefault).toBe(false);
  });

  test('foreign key defaults (03_create_orders, 17_review_authors)', async () => {
    const [orders, lines] = (await loadOwn('03_create_orders.yaml')).migration.operations;
    expect(optionsOf(orders, 'create_table').columns[1]?.references).toEqual({
      name: 'orders_customer_fk',
      table: 'customers',
      column: 'id',
      match_type: 'SIMPLE',
      on_delete: 'RESTRICT',
      on_update: 'CASCADE',
      deferrable: false,
      initially_deferred: false,
    });
    expect(optionsOf(lines, 'create_table').constraints?.[1]).toMatchObject({
      deferrable: true,
      initially_deferred: true,
      references: {
        table: 'orders',
        columns: ['id'],
        on_delete: 'CASCADE',
        on_update: 'NO ACTION',
      },
    });
    const constraint = optionsOf(
      (await loadOwn('17_review_authors.yaml')).migration.operations[0],
      'create_constraint',
    );
    expect(constraint).toMatchObject({ no_inherit: false, references: { match_type: 'FULL' } });
  });

  test('sql options (06_create_order_status_type, 20_order_counts_view)', async () => {
    const withDown = optionsOf(
      (await loadOwn('06_create_order_status_type.yaml')).migration.operations[0],
      'sql',
    );
    expect(withDown).toMatchObject({ down: 'DROP TYPE order_status', onComplete: false });
    const onComplete = optionsOf(
      (await loadOwn('20_order_counts_view.yaml')).migration.operations[0],
      'sql',
    );
    expect(onComplete.onComplete).toBe(true);
    expect(onComplete.up).toMatch(/^CREATE VIEW customer_order_counts AS\n/);
  });
});

describe.skipIf(!pgroll.found)(
  `pgroll examples${pgroll.skipped ? ` (${pgroll.skipped})` : ''}`,
  () => {
    test('all 56 are present', () => {
      expect(exampleFiles).toHaveLength(56);
    });

    describeFiles(pgroll.dir, exampleFiles);

    test('defaults are filled in (01_create_tables)', async () => {
      const { migration } = await loadExample('01_create_tables.yaml');
      expect(migration.versionSchema).toBe('01_create_tables');
      const table = optionsOf(migration.operations[0], 'create_table');
      expect(table.columns[0]).toEqual({
        name: 'id',
        type: 'integer',
        pk: true,
        nullable: false,
        unique: false,
      });
      expect(table.columns[2]?.nullable).toBe(true);
    });

    test('version_schema overrides the name (56_with_version_schema)', async () => {
      const { migration } = await loadExample('56_with_version_schema.yaml');
      expect(migration.name).toBe('56_with_version_schema');
      expect(migration.versionSchema).toBe('with_version_schema');
    });

    test('alter_column keeps null apart from absent (36, 46)', async () => {
      const comment = optionsOf(
        (await loadExample('36_set_comment_to_null.yaml')).migration.operations[0],
        'alter_column',
      );
      expect(comment.comment).toBeNull();
      expect('default' in comment).toBe(false);
      const dropDefault = optionsOf(
        (await loadExample('46_alter_column_drop_default.yaml')).migration.operations[0],
        'alter_column',
      );
      expect(dropDefault.default).toBeNull();
      expect('comment' in dropDefault).toBe(false);
    });

    test('foreign key defaults (21, 47)', async () => {
      const alter = optionsOf(
        (await loadExample('21_add_foreign_key_constraint.yaml')).migration.operations[0],
        'alter_column',
      );
      expect(alter.references).toMatchObject({
        on_delete: 'CASCADE',
        on_update: 'NO ACTION',
        match_type: 'SIMPLE',
      });
      const constraint = optionsOf(
        (await loadExample('47_add_table_foreign_key_constraint.yaml')).migration.operations[0],
        'create_constraint',
      );
      expect(constraint.references).toMatchObject({
        table: 'sellers',
        columns: ['name', 'zip'],
        on_delete: 'NO ACTION',
      });
    });

    test('identity, index and sql options (08, 38, 32)', async () => {
      const fruits = optionsOf(
        (await loadExample('08_create_fruits_table.yaml')).migration.operations[0],
        'create_table',
      );
      expect(fruits.columns[0]?.generated?.identity?.user_specified_values).toBe('BY DEFAULT');
      const index = optionsOf(
        (await loadExample('38_create_hash_index_with_fillfactor.yaml')).migration.operations[0],
        'create_index',
      );
      expect(index).toMatchObject({
        method: 'hash',
        unique: false,
        storage_parameters: 'fillfactor = 70',
      });
      const plain = optionsOf(
        (await loadExample('10_create_index.yaml')).migration.operations[0],
        'create_index',
      );
      expect(plain.method).toBe('btree');
      const sql = optionsOf(
        (await loadExample('32_sql_on_complete.yaml')).migration.operations[0],
        'sql',
      );
      expect(sql).toEqual({
        up: 'ALTER TABLE people ADD COLUMN birth_date timestamp',
        onComplete: true,
      });
    });
  },
);
