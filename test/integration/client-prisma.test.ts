/**
 * Prisma Client over its pg adapter (`@prisma/adapter-pg`) through tidal/client: old and new
 * releases write at once through start, complete and rollback, with model queries (Prisma names
 * the table with the adapter's `schema`) or raw SQL (unqualified: search_path). Each release has
 * its own schema.prisma (test/fixtures/prisma/<version>/), generated here as its build would.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prismaPgSetup, tidalVersion, VersionNotLiveError } from '../../src/client/index.js';
import { ident } from '../../src/pg/quote.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type OpenRelease, type ReleaseSpec, rollingDeploys } from '../helpers/rolling-deploy.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

const RELEASES = ['public', '02_display', '03_nick'] as const;
type ReleaseName = (typeof RELEASES)[number];

const FIXTURES = new URL('../fixtures/prisma/', import.meta.url);
const REPO = new URL('../../', import.meta.url);

/** What the tests use of a generated client; its own types are generated, not imported. */
interface UsersDelegate {
  create(args: { data: Record<string, unknown> }): Promise<unknown>;
  update(args: { where: { id: number }; data: Record<string, unknown> }): Promise<unknown>;
}
interface PrismaQueries {
  users: UsersDelegate;
  $executeRaw(query: TemplateStringsArray, ...values: unknown[]): Promise<number>;
}
interface PrismaClientLike extends PrismaQueries {
  $transaction<T>(
    work: (tx: PrismaQueries) => Promise<T>,
    options?: { maxWait?: number; timeout?: number },
  ): Promise<T>;
  $disconnect(): Promise<void>;
}
interface GeneratedClient {
  PrismaClient: new (options: { adapter: PrismaPg }) => PrismaClientLike;
  Prisma: { raw(sql: string): unknown };
}

/** Runs `prisma generate` on each release's schema.prisma, into test/fixtures/prisma/generated. */
async function generateClients(): Promise<Record<ReleaseName, GeneratedClient>> {
  const manifest = JSON.parse(
    await readFile(new URL('node_modules/prisma/package.json', REPO), 'utf8'),
  ) as { bin: { prisma: string } };
  const cli = fileURLToPath(new URL(`node_modules/prisma/${manifest.bin.prisma}`, REPO));
  const env = {
    ...process.env,
    // generate only checks that the schema engine's file exists; it is never run. The install
    // script that would download it is not allowed to run here.
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  };
  const clients = await Promise.all(
    RELEASES.map(async (release) => {
      const output = new URL(`generated/${release}/`, FIXTURES);
      await rm(output, { recursive: true, force: true });
      const schema = fileURLToPath(new URL(`${release}/schema.prisma`, FIXTURES));
      await promisify(execFile)(process.execPath, [cli, 'generate', '--schema', schema], {
        cwd: fileURLToPath(REPO),
        env,
      });
      return (await import(new URL('client.ts', output).href)) as GeneratedClient;
    }),
  );
  return Object.fromEntries(RELEASES.map((r, i) => [r, clients[i]])) as Record<
    ReleaseName,
    GeneratedClient
  >;
}

let generated: Record<ReleaseName, GeneratedClient>;
beforeAll(async () => {
  generated = await generateClients();
});

/** The generated client of the release built for `version`. */
function buildOf(version: ReleaseSpec['version']): GeneratedClient {
  const build = generated[version.name as ReleaseName];
  if (!build) throw new Error(`no Prisma schema for release ${version.name}`);
  return build;
}

/** A Prisma client of `build` through `release`'s version: `new PrismaPg(poolConfig, options)`
 *  from prismaPgSetup, or without `options` (the adapter's schema left to Prisma). */
function prismaClient(
  build: GeneratedClient,
  release: Pick<ReleaseSpec, 'url' | 'version' | 'connections'>,
  schema: 'setup' | 'default' = 'setup',
): PrismaClientLike {
  const setup = prismaPgSetup(release.version, {
    connectionString: release.url,
    max: release.connections,
  });
  const adapter =
    schema === 'setup'
      ? new PrismaPg(setup.poolConfig, setup.options)
      : new PrismaPg(setup.poolConfig);
  return new build.PrismaClient({ adapter });
}

/** Prisma's interactive transactions give up after 2 s waiting for a connection and 5 s open;
 *  a writer here may wait longer on tidal's locks, as other libraries' writers do. */
const TRANSACTION = { maxWait: 30_000, timeout: 30_000 };

/** Model queries: `create` and `update` on `users`, which Prisma names `"<schema>"."users"`. */
function modelRelease(schema: 'setup' | 'default' = 'setup'): OpenRelease {
  return async (release) => {
    const prisma = prismaClient(buildOf(release.version), release, schema);
    const name = release.nameColumn;
    return {
      async write(inserted, updated) {
        await prisma.$transaction(async (tx) => {
          await tx.users.create({
            data: { id: inserted.id, [name]: inserted.name, score: inserted.score },
          });
          await tx.users.update({
            where: { id: updated.id },
            data: { [name]: updated.name, score: updated.score },
          });
        }, TRANSACTION);
      },
      end: () => prisma.$disconnect(),
    };
  };
}

/** Raw SQL: `$executeRaw` with the table unqualified, found by search_path. */
const rawRelease: OpenRelease = async (release) => {
  const build = buildOf(release.version);
  const prisma = prismaClient(build, release);
  const name = build.Prisma.raw(ident(release.nameColumn));
  return {
    async write(inserted, updated) {
      await prisma.$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO users (id, ${name}, score)
          VALUES (${inserted.id}, ${inserted.name}, ${inserted.score})`;
        await tx.$executeRaw`UPDATE users SET ${name} = ${updated.name}, score = ${updated.score}
          WHERE id = ${updated.id}`;
      }, TRANSACTION);
    },
    end: () => prisma.$disconnect(),
  };
};

describe('Prisma releases in a rolling deploy', () => {
  it('model queries (adapter schema: the version schema): no transaction fails, every row is right after complete and rollback', async () => {
    const figures = await rollingDeploys(modelRelease());
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });

  it('$executeRaw, unqualified (search_path): the same', async () => {
    const figures = await rollingDeploys(rawRelease);
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });
});

describe('Prisma through a version, and without the adapter schema', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.query(`CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, score int)`);
    await withTidal(db.url, async (t) =>
      t.start(
        await migrationFromYaml(
          '02_display',
          `operations:
  - rename_column: {table: users, from: name, to: display_name}
  - alter_column: {table: users, column: score, type: bigint, up: score, down: score}
`,
        ),
      ),
    );
  });
  afterAll(() => db?.dispose());

  const spec = (version: string, nameColumn: ReleaseSpec['nameColumn']): ReleaseSpec => ({
    url: db.url,
    version: tidalVersion(version),
    nameColumn,
    connections: 1,
  });

  it('without the adapter schema, Prisma names "public"."users": the release of 02_display fails to write while it is started', async () => {
    const release = spec('02_display', 'display_name');
    const inserted = { id: 1, name: 'first', score: 1 };
    const bare = await modelRelease('default')(release);
    // The session selects 02_display (search_path), but Prisma names the table in public,
    // whose column is still "name".
    const failed = await bare.write(inserted, inserted).catch((e: Error) => e);
    await bare.end();
    // P2022: a column of the query does not exist.
    expect(failed).toMatchObject({ code: 'P2022' });
    expect((failed as Error).message).toMatch(/display_name/);

    const own = await modelRelease()(release);
    await own.write(inserted, { id: 1, name: 'set', score: 2 });
    await own.end();
    expect((await db.query('SELECT id, name, score FROM public.users')).rows).toEqual([
      { id: 1, name: 'set', score: 2 },
    ]);
  });

  it('a version that is not live: the query fails with the VersionNotLiveError itself', async () => {
    const prisma = prismaClient(generated['02_display'], spec('05_x', 'display_name'));
    const notStarted = /^version "05_x" is not started on this database/;
    await expect(
      prisma.users.create({ data: { id: 2, display_name: 'x', score: 1 } }),
    ).rejects.toThrow(notStarted);
    const failed = await prisma
      .$transaction(async (tx) => tx.$executeRaw`SELECT 1`)
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(VersionNotLiveError);
    expect((failed as Error).message).toMatch(notStarted);
    await prisma.$disconnect();
    const { rows } = await db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [
      'tidal:public_05_x',
    ]);
    expect(rows).toEqual([]);
  });
});
