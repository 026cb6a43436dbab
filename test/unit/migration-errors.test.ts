import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  listMigrationFiles,
  loadMigrationFile,
  loadMigrationText,
  parseMigrationText,
} from '../../src/migration/load.js';
import { initSqlParser } from '../../src/migration/sql-text.js';
import { unwrittenExpression } from '../../src/migration/unwritten.js';

let dir: string;

beforeAll(async () => {
  await initSqlParser();
  dir = await mkdtemp(join(tmpdir(), 'tidal-migration-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The InputError message `run` throws; fails the test when it throws anything else. */
function inputErrorOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).message;
  }
  throw new Error('expected an InputError, nothing was thrown');
}

async function asyncInputErrorOf(run: () => Promise<unknown>): Promise<string> {
  const error = await run().then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(InputError);
  return (error as InputError).message;
}

const FILE = 'migrations/03_add.yaml';

function yamlError(text: string): string {
  return inputErrorOf(() => parseMigrationText(text, FILE, 'yaml'));
}

const addColumn = (column: string, extra = '') =>
  `operations:\n  - add_column:\n      table: products\n${extra}      column:\n${column}`;

describe('structure', () => {
  test('unknown operation gets one clean message with a suggestion', () => {
    const message = yamlError(
      'operations:\n  - drop_table: {name: a}\n  - add_colum:\n      table: x\n',
    );
    expect(message).toBe(
      `${FILE}: operations[1]: unknown operation "add_colum" (did you mean "add_column"?)`,
    );
  });

  test('unknown operation far from any name lists the valid ones', () => {
    const message = yamlError('operations:\n  - frobnicate: {}\n');
    expect(message).toContain(
      'operations[0]: unknown operation "frobnicate" (expected one of add_column, alter_column,',
    );
    expect(message).toContain('set_replica_identity, sql)');
  });

  test('unknown field in a nested place', () => {
    const message = yamlError(
      'operations:\n  - drop_table: {name: a}\n  - create_table:\n      name: t\n      columns:\n        - name: id\n          type: int\n          nulable: true\n',
    );
    expect(message).toBe(
      `${FILE}: operations[1].create_table.columns[0]: unknown field "nulable" (did you mean "nullable"?)`,
    );
  });

  test('unknown top-level field', () => {
    expect(yamlError('operations: []\nversion: 3\n')).toContain(`${FILE}: unknown field "version"`);
  });

  test('missing required field', () => {
    const message = yamlError(addColumn('        name: description\n        nullable: true\n'));
    expect(message).toBe(`${FILE}: operations[0].add_column.column.type: required field missing`);
  });

  test('missing operations', () => {
    expect(yamlError('version_schema: v1\n')).toBe(`${FILE}: operations: required field missing`);
  });

  test('an empty list of operations', () => {
    expect(yamlError('operations: []\n')).toBe(
      `${FILE}: operations: no operations: a migration needs at least one`,
    );
  });

  test('wrong type, with a hint for unquoted numbers', () => {
    const message = yamlError(
      addColumn('        name: stock\n        type: int\n        default: 100\n'),
    );
    expect(message).toBe(
      `${FILE}: operations[0].add_column.column.default: expected a string, got 100 (put it in quotes to make it a string)`,
    );
    expect(yamlError('operations:\n  - drop_table: [a]\n')).toBe(
      `${FILE}: operations[0].drop_table: expected an object, got a list`,
    );
  });

  test('value outside an enum', () => {
    const message = yamlError(
      'operations:\n  - create_index:\n      name: i\n      table: t\n      method: btre\n      columns: [{column: a}]\n',
    );
    expect(message).toBe(
      `${FILE}: operations[0].create_index.method: expected one of btree, hash, gist, spgist, gin, brin, got "btre"`,
    );
  });

  test('an operation must have exactly one key', () => {
    const message = yamlError(
      'operations:\n  - drop_table: {name: a}\n    drop_index: {name: b}\n  - {}\n',
    );
    expect(message).toContain(
      `${FILE}: operations[0]: an operation is an object with one key, found 2: drop_table, drop_index`,
    );
    expect(message).toContain(`${FILE}: operations[1]: empty operation`);
  });

  test('several problems are reported one per line', () => {
    const message = yamlError(
      'operations:\n  - drop_table: {name: 1}\n  - rename_table: {from: a}\n  - drop_index: {nam: i}\n',
    );
    expect(message.split('\n')).toEqual([
      `${FILE}: operations[0].drop_table.name: expected a string, got 1 (put it in quotes to make it a string)`,
      `${FILE}: operations[1].rename_table.to: required field missing`,
      `${FILE}: operations[2].drop_index.name: required field missing`,
      `${FILE}: operations[2].drop_index: unknown field "nam" (did you mean "name"?)`,
    ]);
  });

  test('names longer than 63 bytes are rejected, counting UTF-8 bytes', () => {
    const name = 'é'.repeat(32); // 32 characters, 64 bytes
    expect(yamlError(`operations:\n  - drop_table: {name: ${name}}\n`)).toBe(
      `${FILE}: operations[0].drop_table.name: "${name}" is 64 bytes long; PostgreSQL names are at most 63 bytes`,
    );
    expect(() =>
      parseMigrationText(`operations:\n  - drop_table: {name: ${'x'.repeat(63)}}\n`, FILE, 'yaml'),
    ).not.toThrow();
    expect(yamlError('operations:\n  - drop_table: {name: ""}\n')).toBe(
      `${FILE}: operations[0].drop_table.name: must not be empty`,
    );
  });

  test('a name field must match the file name', () => {
    expect(yamlError('name: 04_other\noperations: []\n')).toBe(
      `${FILE}: name: "04_other" differs from the file's name "03_add" (a migration is named after its file)`,
    );
    const migration = parseMigrationText(
      'name: 03_add\noperations:\n  - drop_table: {name: a}\n',
      FILE,
      'yaml',
    );
    expect(migration).toEqual({
      name: '03_add',
      versionSchema: '03_add',
      operations: [{ kind: 'drop_table', options: { name: 'a' } }],
    });
  });

  test('version_schema must not be empty', () => {
    expect(yamlError('version_schema: ""\noperations: []\n')).toBe(
      `${FILE}: version_schema: must not be empty`,
    );
  });

  test('sql: down together with onComplete: true', () => {
    const message = yamlError(
      'operations:\n  - sql:\n      up: CREATE TABLE t (id int)\n      down: DROP TABLE t\n      onComplete: true\n',
    );
    expect(message).toBe(
      `${FILE}: operations[0].sql.down: not allowed with onComplete: true (SQL run on complete is never rolled back)`,
    );
  });

  test('alter_column must change something', () => {
    expect(
      yamlError('operations:\n  - alter_column: {table: t, column: c, up: c, down: c}\n'),
    ).toContain(`${FILE}: operations[0].alter_column: nothing to change`);
  });

  test('table constraint fields that do not fit the constraint type', () => {
    const message = yamlError(
      'operations:\n  - create_table:\n      name: t\n      columns: [{name: a, type: int}]\n      constraints:\n        - {name: u, type: unique, check: "a > 0"}\n',
    );
    expect(message.split('\n')).toEqual([
      `${FILE}: operations[0].create_table.constraints[0].check: not allowed for a unique constraint`,
      `${FILE}: operations[0].create_table.constraints[0].columns: required for a unique constraint`,
    ]);
  });
});

describe('rules that need no database', () => {
  test('NOT NULL column with neither default nor up', () => {
    const message = yamlError(addColumn('        name: stock\n        type: int\n'));
    expect(message).toBe(
      `${FILE}: operations[0].add_column.column: column "stock" is NOT NULL with neither a default nor "up": existing rows would have no value for it (give "up" to compute one, a "default", or "nullable: true")`,
    );
  });

  test('create_table with more columns than PostgreSQL allows in a table', () => {
    const columns = (n: number) =>
      Array.from({ length: n }, (_, i) => `{name: c${i}, type: int}`).join(', ');
    const file = (n: number) =>
      `operations:\n  - create_table: {name: t, columns: [${columns(n)}]}\n`;
    expect(yamlError(file(1601))).toBe(
      `${FILE}: operations[0].create_table.columns: 1601 columns; PostgreSQL allows at most 1600 in a table`,
    );
    expect(parseMigrationText(file(1600), FILE, 'yaml').operations).toHaveLength(1);
  });

  test('create_table without columns, or with a column twice', () => {
    expect(yamlError('operations:\n  - create_table: {name: t, columns: []}\n')).toBe(
      `${FILE}: operations[0].create_table.columns: a table needs at least one column`,
    );
    const message = yamlError(
      'operations:\n  - create_table:\n      name: t\n      columns:\n        - {name: id, type: int}\n        - {name: id, type: text}\n',
    );
    expect(message).toBe(
      `${FILE}: operations[0].create_table.columns[1].name: duplicate column "id" (also at index 0)`,
    );
  });

  test('constraint columns must be columns of the new table', () => {
    const message = yamlError(
      'operations:\n  - create_table:\n      name: t\n      columns: [{name: id, type: int}]\n      constraints:\n        - {name: pk, type: primary_key, columns: [idd]}\n',
    );
    expect(message).toBe(
      `${FILE}: operations[0].create_table.constraints[0].columns[0]: no column "idd" in table "t"`,
    );
  });

  test('create_index without columns', () => {
    expect(yamlError('operations:\n  - create_index: {name: i, table: t, columns: []}\n')).toBe(
      `${FILE}: operations[0].create_index.columns: an index needs at least one column`,
    );
  });

  test('renames to the same name', () => {
    expect(yamlError('operations:\n  - rename_column: {table: t, from: a, to: a}\n')).toBe(
      `${FILE}: operations[0].rename_column.to: the same as "from" ("a"): nothing to rename`,
    );
    expect(yamlError('operations:\n  - rename_table: {from: a, to: a}\n')).toContain(
      'operations[0].rename_table.to: the same as "from"',
    );
  });

  test('create_constraint needs up and down for exactly its columns', () => {
    const message = yamlError(
      'operations:\n  - create_constraint:\n      table: t\n      name: u\n      type: unique\n      columns: [a, b]\n      up: {a: a, c: c}\n      down: {a: a, b: b}\n',
    );
    expect(message.split('\n')).toEqual([
      `${FILE}: operations[0].create_constraint.up: missing an expression for column "b"`,
      `${FILE}: operations[0].create_constraint.up.c: column "c" is not one of the constraint's columns`,
    ]);
  });

  test('replica identity type and index', () => {
    const message = yamlError(
      'operations:\n  - set_replica_identity: {table: t, identity: {type: index}}\n  - set_replica_identity: {table: t, identity: {type: everything}}\n',
    );
    expect(message.split('\n')).toEqual([
      `${FILE}: operations[0].set_replica_identity.identity.index: required when type is index`,
      `${FILE}: operations[1].set_replica_identity.identity.type: expected one of default, full, nothing, index, got "everything"`,
    ]);
  });
});

describe('SQL in fields', () => {
  test('invalid up expression names the field, the parser message and the position', () => {
    const message = yamlError(
      addColumn('        name: d\n        type: text\n', '      up: UPPER(name) + * 2\n'),
    );
    expect(message).toBe(
      `${FILE}: operations[0].add_column.up: not a valid SQL expression: syntax error at or near "*" (position 15)`,
    );
  });

  test('an expression left for the user to write is refused at its field until it is written', () => {
    const message = yamlError(
      addColumn(
        '        name: d\n        type: text\n        nullable: false\n',
        `      up: "${unwrittenExpression('the value of d for the rows already in t')}"\n`,
      ),
    );
    expect(message).toBe(
      `${FILE}: operations[0].add_column.up: left for you to write: the value of d for the rows already in t`,
    );
  });

  test('an expression cut short', () => {
    const message = yamlError(
      addColumn('        name: d\n        type: text\n', '      up: name || \n'),
    );
    expect(message).toBe(
      `${FILE}: operations[0].add_column.up: not a valid SQL expression: syntax error at end of input`,
    );
  });

  test('a second statement smuggled into an expression', () => {
    const message = yamlError(
      addColumn(
        '        name: d\n        type: text\n',
        '      up: "1); DROP TABLE products; SELECT (1"\n',
      ),
    );
    expect(message).toBe(
      `${FILE}: operations[0].add_column.up: not a valid SQL expression: has a ")" without a matching "(" (position 2)`,
    );
    const semicolon = yamlError(
      addColumn('        name: d\n        type: text\n', '      up: "name; DROP TABLE products"\n'),
    );
    expect(semicolon).toContain(
      'operations[0].add_column.up: not a valid SQL expression: has a ";"',
    );
  });

  test('a full SELECT is a valid up (as in the pgroll examples)', () => {
    const text = addColumn(
      '        name: d\n        type: text\n',
      "      up: SELECT CASE WHEN name IS NULL THEN 'x' ELSE name END\n",
    );
    expect(() => parseMigrationText(text, FILE, 'yaml')).not.toThrow();
  });

  test('every expression field is checked', () => {
    const cases: Array<[string, string]> = [
      [
        addColumn('        name: d\n        type: text\n        default: "now("\n'),
        'add_column.column.default',
      ],
      [
        addColumn(
          '        name: d\n        type: text\n        nullable: true\n        check: {name: c, constraint: "d >"}\n',
        ),
        'add_column.column.check.constraint',
      ],
      [
        'operations:\n  - alter_column: {table: t, column: c, nullable: false, up: "c +", down: c}\n',
        'alter_column.up',
      ],
      [
        'operations:\n  - alter_column: {table: t, column: c, default: "1 +"}\n',
        'alter_column.default',
      ],
      ['operations:\n  - drop_column: {table: t, column: c, down: "(("}\n', 'drop_column.down'],
      [
        'operations:\n  - create_index: {name: i, table: t, columns: [{column: a}], predicate: "a >"}\n',
        'create_index.predicate',
      ],
      [
        'operations:\n  - drop_constraint: {table: t, name: c, up: a, down: "a +"}\n',
        'drop_constraint.down',
      ],
      [
        'operations:\n  - drop_multicolumn_constraint: {table: t, name: c, down: {a: "a +"}}\n',
        'drop_multicolumn_constraint.down.a',
      ],
      [
        'operations:\n  - create_constraint: {table: t, name: c, type: check, check: "a >", columns: [a], up: {a: a}, down: {a: a}}\n',
        'create_constraint.check',
      ],
      ['operations:\n  - sql: {up: "CREATE TABLE (id int)"}\n', 'sql.up'],
      ['operations:\n  - sql: {up: "CREATE TABLE t (id int)", down: "DROP TABLE"}\n', 'sql.down'],
    ];
    for (const [text, field] of cases) {
      expect(yamlError(text)).toMatch(
        new RegExp(`^${FILE}: operations\\[0\\]\\.${field.replaceAll('.', '\\.')}: not (a )?valid`),
      );
    }
  });

  test('column types are checked, and cannot smuggle SQL either', () => {
    expect(
      yamlError(
        addColumn('        name: d\n        type: "int primary key"\n        nullable: true\n'),
      ),
    ).toBe(
      `${FILE}: operations[0].add_column.column.type: not a valid type: syntax error at or near "primary" (position 5)`,
    );
    expect(
      yamlError(
        addColumn(
          '        name: d\n        type: "int); DROP TABLE x; --"\n        nullable: true\n',
        ),
      ),
    ).toContain(
      'operations[0].add_column.column.type: not a valid type: has a ")" without a matching "("',
    );
  });

  test('sql operations: no statement, or transaction control', () => {
    expect(yamlError('operations:\n  - sql: {up: "-- nothing"}\n')).toBe(
      `${FILE}: operations[0].sql.up: contains no SQL statement`,
    );
    expect(
      yamlError('operations:\n  - sql: {up: "BEGIN; CREATE TABLE t (id int); COMMIT"}\n'),
    ).toContain(
      `${FILE}: operations[0].sql.up: "BEGIN" controls transactions, which tidal does itself`,
    );
  });
});

describe('files', () => {
  async function write(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  test('malformed YAML names the file, line and column', async () => {
    const path = await write(
      '10_bad.yaml',
      'operations:\n  - drop_table:\n      name: a\n     bad: [1\n',
    );
    const message = await asyncInputErrorOf(() => loadMigrationFile(path));
    expect(message).toMatch(new RegExp(`^${path}: line 4, column \\d+: invalid YAML: `));
  });

  test('duplicate YAML keys are an error, not last-one-wins', async () => {
    const path = await write(
      '11_dup.yaml',
      'operations:\n  - drop_table:\n      name: a\n      name: b\n',
    );
    expect(await asyncInputErrorOf(() => loadMigrationFile(path))).toBe(
      `${path}: line 4, column 7: invalid YAML: Map keys must be unique`,
    );
  });

  test('malformed JSON names the file, line and column', async () => {
    const path = await write(
      '12_bad.json',
      '{\n  "operations": [\n    {"drop_table": {"name": "a"}},\n  ]\n}\n',
    );
    expect(await asyncInputErrorOf(() => loadMigrationFile(path))).toBe(
      `${path}: line 4, column 3: invalid JSON: unexpected "]"`,
    );
    const duplicate = await write('13_dup.json', '{"operations": [], "operations": []}');
    expect(await asyncInputErrorOf(() => loadMigrationFile(duplicate))).toBe(
      `${duplicate}: line 1, column 20: invalid JSON: duplicate key "operations"`,
    );
  });

  test('text loads as its file does, with a checksum of the content', async () => {
    const content = 'operations:\n  - drop_table: {name: a}\n';
    const path = await write('15_drop.yaml', content);
    expect(await loadMigrationText(content, path)).toEqual(await loadMigrationFile(path));
    // Same length, different content: different checksums.
    const other = await loadMigrationText(content.replace('a}', 'b}'), path);
    expect(other.content).toHaveLength(content.length);
    expect(other.checksum).not.toBe((await loadMigrationFile(path)).checksum);
    expect(await asyncInputErrorOf(() => loadMigrationText(content, '15_drop.txt'))).toBe(
      '15_drop.txt: unsupported file extension ".txt" (expected .yaml, .yml or .json)',
    );
  });

  test('a JSON migration loads like its YAML twin', async () => {
    const json = {
      version_schema: 'v_json',
      operations: [
        {
          add_column: {
            table: 'products',
            up: "name || '-category'",
            column: { name: 'category', type: 'varchar(255)', nullable: false },
          },
        },
      ],
    };
    const content = `${JSON.stringify(json, null, 2)}\n`;
    const path = await write('14_add.json', content);
    const loaded = await loadMigrationFile(path);
    expect(loaded.file).toBe(path);
    expect(loaded.content).toBe(content);
    expect(loaded.migration).toEqual({
      name: '14_add',
      versionSchema: 'v_json',
      operations: [
        {
          kind: 'add_column',
          options: {
            table: 'products',
            up: "name || '-category'",
            column: {
              name: 'category',
              type: 'varchar(255)',
              nullable: false,
              pk: false,
              unique: false,
            },
          },
        },
      ],
    });
  });

  test('JSON errors name the field path like YAML ones', async () => {
    const path = await write(
      '15_bad.json',
      '{"operations": [{"drop_table": {"name": "a", "cascade": true}}]}',
    );
    expect(await asyncInputErrorOf(() => loadMigrationFile(path))).toBe(
      `${path}: operations[0].drop_table: unknown field "cascade" (expected one of name)`,
    );
  });

  test('unsupported extension, missing file, empty file', async () => {
    expect(await asyncInputErrorOf(() => loadMigrationFile(join(dir, 'x.sql')))).toContain(
      'unsupported file extension ".sql" (expected .yaml, .yml or .json)',
    );
    expect(await asyncInputErrorOf(() => loadMigrationFile(join(dir, 'missing.yaml')))).toContain(
      `${join(dir, 'missing.yaml')}: cannot read migration file`,
    );
    const empty = await write('16_empty.yml', '# nothing yet\n');
    expect(await asyncInputErrorOf(() => loadMigrationFile(empty))).toBe(
      `${empty}: the file is empty (expected an object with "operations")`,
    );
  });

  test('listMigrationFiles: order, extensions, hidden files, missing directory', async () => {
    const sub = join(dir, 'list');
    await mkdir(sub);
    for (const name of [
      '10_b.yml',
      '02_a.json',
      '01_z.yaml',
      'README.md',
      '.#01_z.yaml',
      '11_c.yaml',
    ]) {
      await writeFile(join(sub, name), 'operations: []\n');
    }
    expect(await listMigrationFiles(sub)).toEqual(
      ['01_z.yaml', '02_a.json', '10_b.yml', '11_c.yaml'].map((name) => join(sub, name)),
    );
    await writeFile(join(sub, '11_c.json'), '{"operations": []}');
    expect(await asyncInputErrorOf(() => listMigrationFiles(sub))).toBe(
      `${sub}: 11_c.json and 11_c.yaml both define migration "11_c"`,
    );
    expect(await asyncInputErrorOf(() => listMigrationFiles(join(dir, 'nope')))).toContain(
      `${join(dir, 'nope')}: cannot read migrations directory`,
    );
  });
});
