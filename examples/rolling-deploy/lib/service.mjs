/**
 * The HTTP plumbing both releases of the accounts service share: JSON in and out, one route
 * table, and a graceful stop on SIGTERM (finish what is in flight, close the pool, exit), which is
 * how an orchestrator drains an instance.
 */
import { createServer } from 'node:http';

/**
 * Serves `routes` ({ 'POST /accounts': handler, 'GET /accounts/:id': handler, ... }); a handler
 * takes (params, body) and returns [status, json]. Prints `{"listening": port}` once it listens.
 */
export function serve({ pool, routes }) {
  const table = Object.entries(routes).map(([key, handler]) => {
    const [method, path] = key.split(' ');
    const pattern = new RegExp(`^${path.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`);
    return { method, pattern, handler };
  });

  const server = createServer(async (request, response) => {
    const send = (status, json) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(json));
    };
    try {
      const path = new URL(request.url ?? '/', 'http://service').pathname;
      for (const { method, pattern, handler } of table) {
        const match = request.method === method ? pattern.exec(path) : null;
        if (match) {
          const [status, json] = await handler(match.groups ?? {}, await readJson(request));
          return send(status, json);
        }
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
