/**
 * node-postgres settings that select a version: its startup `options` set search_path and
 * tidal.version, `application_name` carries the version's tag. Every library's setup in
 * tidal/client is built from these, so all select and tag alike.
 */
import type pg from 'pg';
import { libpqOptions, versionSessionParameters } from '../pg/version-session.js';
import { assertVersionLive } from './live.js';
import type { ClientVersion } from './version.js';

/** What selects the version at connect: the startup options and the tag. */
export interface SessionSettings {
  /** libpq `options`: `-c search_path=... -c tidal.version=...`, after any options given. */
  options: string;
  application_name: string;
}

/**
 * The settings of a session of `version`. Options already given (`-c statement_timeout=...`)
 * are kept before tidal's; an `application_name` given becomes the application part of the tag
 * when the version names none.
 */
export function sessionSettings(
  version: ClientVersion,
  given: { options?: string | undefined; application_name?: string | undefined } = {},
): SessionSettings {
  const application = version.application ?? given.application_name;
  const { application_name, ...parameters } = versionSessionParameters({
    ...version,
    ...(application ? { application } : {}),
  });
  const own = libpqOptions(parameters);
  return { options: given.options ? `${given.options} ${own}` : own, application_name };
}

/** A node-postgres `ClientConfig` for a session of `version`. A single Client has no connect
 *  hook: call `assertVersionLive(client, version)` after `connect()`. */
export function pgClientConfig(
  version: ClientVersion,
  base: pg.ClientConfig = {},
): pg.ClientConfig {
  const { connectionString, given } = splitConnectionString(base.connectionString);
  return {
    ...base,
    ...(connectionString !== undefined ? { connectionString } : {}),
    ...sessionSettings(version, {
      options: joinOptions(given.options, base.options),
      application_name: base.application_name ?? given.application_name,
    }),
  };
}

/** Hooks made by pgPoolConfig, with the version schema each checks. */
const checkingHooks = new WeakMap<object, string>();

/**
 * A node-postgres `PoolConfig` for sessions of `version`: each new connection is checked with
 * `assertVersionLive` (pg-pool's `onConnect`), and a failed check ends it and fails the query
 * that asked for it with the check's message. A hook given in `base` runs after the check.
 */
export function pgPoolConfig(version: ClientVersion, base: pg.PoolConfig = {}): pg.PoolConfig {
  const own = base.onConnect;
  const onConnect = async (client: pg.ClientBase) => {
    await assertVersionLive(client, version);
    await own?.(client);
  };
  checkingHooks.set(onConnect, version.versionSchema);
  return { ...base, ...pgClientConfig(version, base), onConnect };
}

/** Whether `pool` was made from `pgPoolConfig(version)`: it selects and checks that version. */
export function poolSelects(pool: pg.Pool, version: ClientVersion): boolean {
  const hook = pool.options.onConnect;
  return hook !== undefined && checkingHooks.get(hook) === version.versionSchema;
}

/**
 * A libpq connection URL for a session of `version`, for any client that takes one: `options`
 * and `application_name` in its query, replacing any there (options there are kept before
 * tidal's).
 */
export function versionUrl(version: ClientVersion, connectionString: string): string {
  const { connectionString: rest, given } = splitConnectionString(connectionString);
  const settings = sessionSettings(version, given);
  const url = rest ?? connectionString;
  // Encoded by hand: URLSearchParams writes a space as '+', which libpq does not decode.
  const query = `options=${encodeURIComponent(settings.options)}&application_name=${encodeURIComponent(settings.application_name)}`;
  return `${url}${url.includes('?') ? '&' : '?'}${query}`;
}

/**
 * A connection string without its `options` and `application_name` (node-postgres lets a
 * connection string's parameters win over the config's), and what they were.
 */
function splitConnectionString(connectionString: string | undefined): {
  connectionString: string | undefined;
  given: { options?: string; application_name?: string };
} {
  if (connectionString === undefined) return { connectionString, given: {} };
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return { connectionString, given: {} };
  }
  const given: { options?: string; application_name?: string } = {};
  const kept: string[] = [];
  for (const pair of url.search.slice(1).split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
    const value = at < 0 ? '' : pair.slice(at + 1);
    if (name === 'options' || name === 'application_name')
      given[name] = decodeURIComponent(value.replaceAll('+', ' '));
    else kept.push(pair);
  }
  url.search = '';
  const bare = url.toString();
  return { connectionString: kept.length > 0 ? `${bare}?${kept.join('&')}` : bare, given };
}

function joinOptions(...options: (string | undefined)[]): string | undefined {
  const present = options.filter((o): o is string => Boolean(o));
  return present.length > 0 ? present.join(' ') : undefined;
}
