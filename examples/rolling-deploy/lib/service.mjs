/**
 * What both releases of the accounts service share: the connection through tidal/client, the
 * HTTP API (JSON in and out) and a graceful stop on SIGTERM (finish what is in flight, close the
 * pool, exit), which is how an orchestrator drains an instance. A release gives its own SQL: that
 * is what the schema change touches.
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { newestMigration, pgPoolConfig, releaseVersion, tidalVersion } from 'tidal/client';

/**
 * A pool for the release whose migrations folder is `migrations` (a file: URL): it is built for
 * the newest migration it ships (TIDAL_VERSION overrides), so every connection selects that
 * version, is tagged with it for `tidal status` and `tidal complete`, and is refused if the
 * version is not live.
 */
export function releasePool(migrations) {
  const version = tidalVersion({
    version: releaseVersion(newestMigration(fileURLToPath(migrations))),
    application: 'accounts',
  });
  return new pg.Pool(pgPoolConfig(version, { connectionString: process.env.DATABASE_URL, max: 4 }));
}

/**
 * Serves the accounts API on PORT (0: any free port) and prints `{"listening": port}`.
 * `sql.insert` takes (name, balance) and returns id; `sql.update` takes (id, name, balance);
 * `sql.select` takes (id) and returns id, name, balance.
 */
export function serveAccounts(pool, sql) {
  const routes = [
    [
      'POST',
      /^\/accounts$/,
      async (_, { name, balance }) => {
        const { rows } = await pool.query(sql.insert, [name, balance]);
        return [201, { id: Number(rows[0].id) }];
      },
    ],
    [
      'PUT',
      /^\/accounts\/(\d+)$/,
      async (id, { name, balance }) => {
        const { rowCount } = await pool.query(sql.update, [id, name, balance]);
        return rowCount === 1 ? [200, { id: Number(id) }] : [404, { error: `no account ${id}` }];
      },
    ],
    [
      'GET',
      /^\/accounts\/(\d+)$/,
      async (id) => {
        const { rows } = await pool.query(sql.select, [id]);
        if (rows.length === 0) return [404, { error: `no account ${id}` }];
        // A bigint arrives as a string: the API answers with a number whatever the column is.
        const { name, balance } = rows[0];
        return [200, { id: Number(id), name, balance: Number(balance) }];
      },
    ],
  ];

  const server = createServer(async (request, response) => {
    const send = (status, json) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(json));
    };
    try {
      const path = new URL(request.url ?? '/', 'http://service').pathname;
      for (const [method, pattern, handler] of routes) {
        const match = request.method === method ? pattern.exec(path) : null;
        if (match) return send(...(await handler(match[1], await readJson(request))));
      }
      send(404, { error: `no route ${request.method} ${path}` });
    } catch (error) {
      send(500, { error: error.message });
    }
  });

  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
  });

  process.once('SIGTERM', () => {
    server.close(async () => {
      await pool.end();
      process.exit(0);
    });
    server.closeIdleConnections();
  });
}

async function readJson(request) {
  let text = '';
  for await (const chunk of request) text += chunk;
  return text === '' ? {} : JSON.parse(text);
}
