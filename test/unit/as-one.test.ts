/** Several files as one migration (planner/as-one.ts): which `up`/`down` another file's change
 *  concerns, in which direction, and where each operation of the whole was written. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { loadMigrationText } from '../../src/migration/load.js';
import { combineMigrations } from '../../src/planner/as-one.js';

async function whole(files: Record<string, string>) {
  const members = [];
  for (const [file, text] of Object.entries(files))
    members.push(await loadMigrationText(text, file));
  return combineMigrations(members);
}

describe('several files as one migration', () => {
  it('puts the operations in file order under the last name and version, each with its source', async () => {
    const combined = await whole({
      '01_a.yaml':
        'operations:\n  - rename_column: {table: users, from: a, to: b}\n  - drop_index: {name: users_x}\n',
      '02_b.yaml':
        'version_schema: release_7\noperations:\n  - add_column: {table: orders, column: {name: c, type: int, nullable: true}}\n',
    });
    expect(combined.migration.name).toBe('02_b');
    expect(combined.migration.versionSchema).toBe('release_7');
    expect(combined.migration.operations.map((o) => o.kind)).toEqual([
      'rename_column',
      'drop_index',
      'add_column',
    ]);
    expect(combined.sources).toEqual([
      { file: '01_a.yaml', index: 0 },
      { file: '01_a.yaml', index: 1 },
      { file: '02_b.yaml', index: 0 },
    ]);
  });

  it('follows a table through a rename to find the change an up reads', async () => {
    await expect(
      whole({
        '01_a.yaml':
          'operations:\n  - alter_column: {table: users, column: email, up: lower(email), down: email, comment: lowered}\n',
        '02_b.yaml': 'operations:\n  - rename_table: {from: users, to: members}\n',
        '03_c.yaml':
          'operations:\n  - add_column: {table: members, up: "split_part(email, \'@\', 2)", column: {name: domain, type: text, nullable: true}}\n',
      }),
    ).rejects.toThrow(
      new InputError(
        '03_c.yaml: operations[0].add_column.up: names column "email" of "members", which 01_a.yaml: operations[0].alter_column changes; as one version, `up` would read the row as it is before 01_a.yaml, not as this file expects. Migrate without --as-one, or write both changes in one migration',
      ),
    );
  });

  it('lets a down read a column that a later file changes only in the up direction', async () => {
    // 02 keeps email as it is for the old version (no `down`): 01's `down` reads what it expects.
    const combined = await whole({
      '01_a.yaml':
        'operations:\n  - drop_column: {table: users, column: score, down: length(email)}\n',
      '02_b.yaml':
        'operations:\n  - alter_column: {table: users, column: email, comment: lowered, up: lower(email)}\n',
    });
    expect(combined.migration.operations).toHaveLength(2);
    // With a `down` of its own that computes the old value anew, it is refused.
    await expect(
      whole({
        '01_a.yaml':
          'operations:\n  - drop_column: {table: users, column: score, down: length(email)}\n',
        '02_b.yaml':
          'operations:\n  - alter_column: {table: users, column: email, comment: lowered, up: lower(email), down: upper(email)}\n',
      }),
    ).rejects.toThrow('01_a.yaml: operations[0].drop_column.down: names column "email"');
  });

  it('leaves alone a chain of alter_columns of one column, and tables the whole creates', async () => {
    const combined = await whole({
      '01_a.yaml':
        'operations:\n  - alter_column: {table: users, column: score, type: bigint, up: CAST(score AS bigint), down: CAST(score AS integer)}\n  - create_table: {name: pets, columns: [{name: id, type: int, pk: true}, {name: n, type: text, nullable: true}]}\n',
      '02_b.yaml':
        'operations:\n  - alter_column: {table: users, column: score, nullable: false, up: "COALESCE(score, 0)", down: score}\n  - rename_column: {table: pets, from: n, to: name}\n  - add_column: {table: pets, up: upper(name), column: {name: shout, type: text, nullable: true}}\n',
    });
    expect(combined.migration.operations).toHaveLength(5);
    // A second alter_column reading another column the first renamed is still refused.
    await expect(
      whole({
        '01_a.yaml': 'operations:\n  - rename_column: {table: users, from: nick, to: handle}\n',
        '02_b.yaml':
          'operations:\n  - alter_column: {table: users, column: score, nullable: false, up: "COALESCE(score, length(handle))"}\n',
      }),
    ).rejects.toThrow(
      'names column "handle" of "users", which 01_a.yaml: operations[0].rename_column renames',
    );
  });
});
