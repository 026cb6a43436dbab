import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { listMigrationFiles, loadMigrationFile } from '../../src/migration/load.js';
import type { Operation, OperationKind, OperationOptions } from '../../src/migration/schema.js';

// shared/ sits beside the repository, locally and in CI.
const examplesDir = fileURLToPath(
  new URL('../../../shared/compat/pgroll-examples', import.meta.url),
);
const exampleFiles = readdirSync(examplesDir)
  .filter((name) => name.endsWith('.yaml'))
  .sort();

async function load(name: string) {
  return loadMigrationFile(join(examplesDir, name));
}

function optionsOf<K extends OperationKind>(operation: Operation | undefined, kind: K) {
  expect(operation?.kind).toBe(kind);
  return operation?.options as OperationOptions<K>;
}

describe('pgroll examples', () => {
  test('all 56 are present', () => {
    expect(exampleFiles).toHaveLength(56);
  });

  test.each(exampleFiles)('%s loads and validates', async (name) => {
    const loaded = await load(name);
    const bytes = readFileSync(join(examplesDir, name));
    expect(loaded.migration.name).toBe(name.replace(/\.yaml$/, ''));
    expect(loaded.migration.operations.length).toBeGreaterThan(0);
    expect(loaded.content).toBe(bytes.toString('utf8'));
    expect(loaded.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  test('listMigrationFiles returns them in file-name order', async () => {
    const files = await listMigrationFiles(examplesDir);
    expect(files.map((file) => file.slice(examplesDir.length + 1))).toEqual(exampleFiles);
  });

  test('defaults are filled in (01_create_tables)', async () => {
    const { migration } = await load('01_create_tables.yaml');
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
    const { migration } = await load('56_with_version_schema.yaml');
    expect(migration.name).toBe('56_with_version_schema');
    expect(migration.versionSchema).toBe('with_version_schema');
  });

  test('alter_column keeps null apart from absent (36, 46)', async () => {
    const comment = optionsOf(
      (await load('36_set_comment_to_null.yaml')).migration.operations[0],
      'alter_column',
    );
    expect(comment.comment).toBeNull();
    expect('default' in comment).toBe(false);
    const dropDefault = optionsOf(
      (await load('46_alter_column_drop_default.yaml')).migration.operations[0],
      'alter_column',
    );
    expect(dropDefault.default).toBeNull();
    expect('comment' in dropDefault).toBe(false);
  });

  test('foreign key defaults (21, 47)', async () => {
    const alter = optionsOf(
      (await load('21_add_foreign_key_constraint.yaml')).migration.operations[0],
      'alter_column',
    );
    expect(alter.references).toMatchObject({
      on_delete: 'CASCADE',
      on_update: 'NO ACTION',
      match_type: 'SIMPLE',
    });
    const constraint = optionsOf(
      (await load('47_add_table_foreign_key_constraint.yaml')).migration.operations[0],
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
      (await load('08_create_fruits_table.yaml')).migration.operations[0],
      'create_table',
    );
    expect(fruits.columns[0]?.generated?.identity?.user_specified_values).toBe('BY DEFAULT');
    const index = optionsOf(
      (await load('38_create_hash_index_with_fillfactor.yaml')).migration.operations[0],
      'create_index',
    );
    expect(index).toMatchObject({
      method: 'hash',
      unique: false,
      storage_parameters: 'fillfactor = 70',
    });
    const plain = optionsOf(
      (await load('10_create_index.yaml')).migration.operations[0],
      'create_index',
    );
    expect(plain.method).toBe('btree');
    const sql = optionsOf((await load('32_sql_on_complete.yaml')).migration.operations[0], 'sql');
    expect(sql).toEqual({
      up: 'ALTER TABLE people ADD COLUMN birth_date timestamp',
      onComplete: true,
    });
  });
});
