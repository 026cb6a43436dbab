/**
 * The `tidal/client` entry as an application gets it: what it loads, what the package exports,
 * the version a release pins, the URL and the settings each library is given.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InputError,
  kyselyDialectConfig,
  newestMigration,
  pgClientConfig,
  pgPoolConfig,
  prismaPgSetup,
  releaseVersion,
  tidalVersion,
  VersionNotLiveError,
  versionUrl,
} from '../../src/client/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('what tidal/client loads', () => {
  it('at run time only zero-dependency modules of its own and node builtins: no pg, zod or engine', async () => {
    const result = await cruise(
      ['src/client/index.ts'],
      {
        baseDir: ROOT,
        // As compiled: type-only imports (pg's types) are gone.
        tsPreCompilationDeps: false,
        doNotFollow: { path: 'node_modules' },
        tsConfig: { fileName: join(ROOT, 'tsconfig.json') },
        enhancedResolveOptions: { extensions: ['.ts', '.js'] },
      } as never,
      { extensions: ['.ts', '.js'] } as never,
    );
    const modules = (result.output as { modules: { source: string; coreModule?: boolean }[] })
      .modules;
    expect(modules.filter((m) => !m.coreModule && !m.source.startsWith('src/'))).toEqual([]);
    expect(
      modules
        .filter((m) => m.source.startsWith('src/') && !m.source.startsWith('src/client/'))
        .map((m) => m.source)
        .sort(),
    ).toEqual([
      'src/catalog/version-access.ts',
      'src/errors.ts',
      'src/pg/quote.ts',
      'src/pg/version-session.ts',
    ]);
  });

  it("its declarations name no package but pg's types", () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const [, specifier = ''] of text.matchAll(/from '([^']+)'/g)) {
        if (specifier.startsWith('.'))
          visit(resolve(dirname(file), specifier.replace(/\.js$/, '.d.ts')));
        else packages.add(specifier);
      }
    };
    visit(join(ROOT, 'dist/client/index.d.ts'));
    expect([...packages]).toEqual(['pg']);
  });

  it('the package exports it as tidal/client, beside the Tidal class at the root', async () => {
    const script = `const client = await import('tidal/client'); const root = await import('tidal');
      console.log(JSON.stringify({ client: typeof client.pgPoolConfig, root: typeof root.Tidal }));`;
    const out = await new Promise<string>((done, fail) =>
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { cwd: ROOT },
        (error, stdout) => (error ? fail(error) : done(stdout)),
      ),
    );
    expect(JSON.parse(out)).toEqual({ client: 'function', root: 'function' });
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.exports['./client']).toEqual({
      types: './dist/client/index.d.ts',
      default: './dist/client/index.js',
    });
  });
});

describe('naming and pinning a version', () => {
  it('a migration name, a version schema and the base version', () => {
    expect(tidalVersion('03_add_x')).toMatchObject({
      versionSchema: 'public_03_add_x',
      schema: 'public',
      base: false,
    });
    expect(tidalVersion('public_03_add_x').versionSchema).toBe('public_03_add_x');
    expect(tidalVersion('public')).toMatchObject({ versionSchema: 'public', base: true });
    expect(tidalVersion({ version: 'v2', schema: 'app' }).versionSchema).toBe('app_v2');
    expect(() => tidalVersion('x'.repeat(60))).toThrow(/longer than 63 bytes/);
    expect(() => tidalVersion(' ')).toThrow(InputError);
  });

  it('the newest migration of a folder is its last migration file by name, without extension', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidal-pin-'));
    try {
      expect(newestMigration(dir)).toBeUndefined();
      for (const file of ['01_a.yaml', '02_b.yml', '10_c.json', '2_early.yaml', 'README.md'])
        writeFileSync(join(dir, file), 'operations: []\n');
      writeFileSync(join(dir, '.99_hidden.yaml'), '');
      mkdirSync(join(dir, '99_folder.yaml'));
      // '2_early' sorts after '10_c': file-name order, as tidal migrate runs them.
      expect(newestMigration(dir)).toBe('2_early');
      rmSync(join(dir, '2_early.yaml'));
      expect(newestMigration(dir)).toBe('10_c');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => newestMigration(join(dir, 'gone'))).toThrow(/cannot read migrations directory/);
  });

  it('TIDAL_VERSION wins over the version the build pinned; neither fails naming both', () => {
    expect(releaseVersion('02_b', { TIDAL_VERSION: '03_c' })).toBe('03_c');
    expect(releaseVersion('02_b', {})).toBe('02_b');
    expect(() => releaseVersion(undefined, { TIDAL_VERSION: '' })).toThrow(
      /set TIDAL_VERSION, or pin the newest migration/,
    );
  });
});

describe('the settings each library gets', () => {
  it("a connection string's options and application_name are merged, not left to win", () => {
    const config = pgClientConfig(tidalVersion({ version: '02_b', application: 'shop' }), {
      connectionString:
        'postgres://app@db:5432/shop?sslmode=disable&options=-c%20statement_timeout%3D5s&application_name=ignored',
    });
    expect(config).toEqual({
      connectionString: 'postgres://app@db:5432/shop?sslmode=disable',
      options:
        '-c statement_timeout=5s -c search_path=public_02_b,public -c tidal.version=public_02_b',
      application_name: 'tidal:public_02_b:shop',
    });
    expect(pgClientConfig(tidalVersion('public'), { application_name: 'shop' })).toEqual({
      options: '-c search_path=public -c tidal.version=public',
      application_name: 'tidal:public:shop',
    });
  });

  it("Prisma's adapter: the version schema as its schema, and a pool config that checks the version", () => {
    // Prisma itself is not installed here (its engine download cannot reach its host).
    const setup = prismaPgSetup(tidalVersion('02_b'), {
      connectionString: 'postgres://db/x',
      max: 4,
    });
    expect(setup.options).toEqual({ schema: 'public_02_b' });
    expect(setup.poolConfig).toMatchObject({
      connectionString: 'postgres://db/x',
      max: 4,
      options: '-c search_path=public_02_b,public -c tidal.version=public_02_b',
      application_name: 'tidal:public_02_b',
    });
    expect(setup.poolConfig.onConnect).toBeTypeOf('function');
  });

  it('Kysely refuses a pool that does not select the version', async () => {
    const version = tidalVersion('02_b');
    const plain = new pg.Pool({ connectionString: 'postgres://db/x' });
    const other = new pg.Pool(pgPoolConfig(tidalVersion('03_c')));
    const made = new pg.Pool(pgPoolConfig(version));
    try {
      expect(() => kyselyDialectConfig(version, plain)).toThrow(
        /the pool given does not select version "02_b": make it with new Pool\(pgPoolConfig\(version\)\)/,
      );
      expect(() => kyselyDialectConfig(version, other)).toThrow(InputError);
      expect(kyselyDialectConfig(version, made).pool).toBe(made);
    } finally {
      await Promise.all([plain.end(), other.end(), made.end()]);
    }
  });
});

describe('a session of a version on the server', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.query(`CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)`);
    const migration = await migrationFromYaml(
      '02_b',
      `operations:\n  - rename_column: {table: users, from: name, to: display_name}\n`,
    );
    await withTidal(db.url, (t) => t.start(migration));
  });
  afterAll(() => db.dispose());

  /** What a session sees of its settings, and how pg_stat_activity names it. */
  async function seen(client: pg.Client) {
    const { rows } = await client.query<Record<string, string>>(
      `SELECT current_setting('search_path') AS search_path,
              current_setting('tidal.version') AS version,
              current_setting('statement_timeout') AS statement_timeout,
              (SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS tag`,
    );
    return rows[0];
  }

  it('the URL selects the version, names it and tags the session, keeping other options', async () => {
    const base = `${db.url}?options=${encodeURIComponent('-c statement_timeout=7s')}`;
    const url = versionUrl(tidalVersion({ version: '02_b', application: 'shop api' }), base);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      expect(await seen(client)).toEqual({
        search_path: 'public_02_b,public',
        version: 'public_02_b',
        statement_timeout: '7s',
        tag: 'tidal:public_02_b:shop api',
      });
      await client.query(`INSERT INTO users (id, display_name) VALUES (1, 'through the view')`);
    } finally {
      await client.end();
    }
  });

  it('a pool of a version that is not started fails each connection with the message, and keeps none', async () => {
    const pool = new pg.Pool(pgPoolConfig(tidalVersion('03_c'), { connectionString: db.url }));
    try {
      const error = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VersionNotLiveError);
      expect((error as Error).message).toBe(
        'version "03_c" is not started on this database: run tidal start migrations/03_c.yaml first',
      );
      expect(pool.totalCount).toBe(0);
    } finally {
      await pool.end();
    }
  });
});
