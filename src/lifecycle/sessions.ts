/**
 * Who is connected, by version: a session's version is the one its `application_name` tag
 * names (`tidal url`, tidal/client); a session without a tag cannot be told.
 */
import { type ClientSession, clientSessions } from '../catalog/activity.js';
import { TIDAL_APPLICATION_NAME } from '../pg/connect.js';
import type { Queryable } from '../pg/queryable.js';
import { versionOfTag, versionTag } from '../pg/version-session.js';

/** One connected session. */
export interface ConnectedSession {
  pid: number;
  /** The application's name: what follows the version in a tag, the whole application_name of
   *  an untagged session; empty when it gives none. */
  application: string;
  /** The client's address; null for a Unix-socket connection. */
  clientAddress: string | null;
  /** When it connected. */
  since: string;
  state: string | null;
}

/** Sessions taken together. */
export interface SessionGroup {
  count: number;
  /** Distinct application names, empty ones left out. */
  applications: string[];
  /** Distinct client addresses; `local` for Unix-socket connections. */
  clientAddresses: string[];
  /** When the oldest connected; null with no session. */
  oldestSince: string | null;
  sessions: ConnectedSession[];
}

/** The sessions tagged with one version. */
export interface VersionSessions extends SessionGroup {
  versionSchema: string;
  /** The version's migration name (the application schema's for the base); null for a tag of
   *  a version that is not live (contracted, rolled back, or never started here). */
  name: string | null;
  live: boolean;
}

/** The sessions of each version, and those without a tag. */
export interface SessionsByVersion {
  /** Every live version, oldest first, then versions that are not live but still have
   *  sessions. */
  versions: VersionSessions[];
  untagged: SessionGroup;
}

/** How a session gets a tag, for the notes that list untagged ones. */
export const UNTAGGED_NOTE =
  'tidal cannot tell their version: connect through the URL `tidal url VERSION` prints, or through tidal/client';

/** A version a tag may name (a `LiveVersion`, or one a command is about to remove). */
export interface KnownVersion {
  name: string;
  versionSchema: string;
}

/** The connected sessions of this database (not tidal's own), by version: each of `versions`
 *  (the live ones), then any other a tag names. */
export async function sessionsByVersion(
  db: Queryable,
  versions: readonly KnownVersion[],
): Promise<SessionsByVersion> {
  const schemas = versions.map((v) => v.versionSchema);
  const tagged = new Map<string, ConnectedSession[]>(schemas.map((s) => [s, []]));
  const untagged: ConnectedSession[] = [];
  for (const row of await clientSessions(db, TIDAL_APPLICATION_NAME)) {
    const version = versionOfTag(row.applicationName, schemas);
    if (version === null) {
      untagged.push(connected(row, row.applicationName));
      continue;
    }
    const schema = typeof version === 'string' ? version : version.unknown;
    const list = tagged.get(schema) ?? [];
    list.push(connected(row, applicationOfTag(row.applicationName, schema)));
    tagged.set(schema, list);
  }
  return {
    versions: [...tagged].map(([versionSchema, list]) => {
      const version = versions.find((v) => v.versionSchema === versionSchema);
      return {
        versionSchema,
        name: version?.name ?? null,
        live: version !== undefined,
        ...group(list),
      };
    }),
    untagged: group(untagged),
  };
}

/** The sessions of `versionSchema` among `sessions`. */
export function sessionsOf(sessions: SessionsByVersion, versionSchema: string): ConnectedSession[] {
  return sessions.versions.find((v) => v.versionSchema === versionSchema)?.sessions ?? [];
}

function connected(row: ClientSession, application: string): ConnectedSession {
  return {
    pid: row.pid,
    application,
    clientAddress: row.clientAddress,
    since: row.backendStart,
    state: row.state,
  };
}

/** What follows `tidal:<version schema>:` in a tag; empty without it (or when cut off). */
function applicationOfTag(tag: string, versionSchema: string): string {
  const prefix = `${versionTag(versionSchema)}:`;
  return tag.startsWith(prefix) ? tag.slice(prefix.length) : '';
}

function group(sessions: ConnectedSession[]): SessionGroup {
  const distinct = (values: string[]) => [...new Set(values)];
  return {
    count: sessions.length,
    applications: distinct(sessions.map((s) => s.application).filter((a) => a !== '')),
    clientAddresses: distinct(sessions.map((s) => s.clientAddress ?? 'local')),
    // Oldest first, as the catalog read orders them.
    oldestSince: sessions[0]?.since ?? null,
    sessions,
  };
}
