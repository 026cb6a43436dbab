/** How a session selects and tags a version: the tag read back, cut tags, unknown tags, and
 *  odd schema names in libpq's options. */
import { describe, expect, it } from 'vitest';
import {
  libpqOptions,
  versionOfTag,
  versionSessionParameters,
  versionTag,
} from '../../src/pg/version-session.js';

const bytes = (text: string) => Buffer.byteLength(text);

describe('versionTag and versionOfTag', () => {
  const known = ['public', 'public_02', 'public_02_x'];

  it('read back the version a tag names, with or without an application', () => {
    for (const schema of known) {
      expect(versionOfTag(versionTag(schema), known)).toBe(schema);
      expect(versionOfTag(versionTag(schema, 'orders:eu'), known)).toBe(schema);
    }
    expect(versionTag('public_02', 'orders')).toBe('tidal:public_02:orders');
  });

  it('give null for an untagged session and the name of an unknown version', () => {
    expect(versionOfTag('psql', known)).toBeNull();
    expect(versionOfTag('', known)).toBeNull();
    expect(versionOfTag('tidal:public_99:orders', known)).toEqual({ unknown: 'public_99' });
    expect(versionOfTag('tidal:public_03', known)).toEqual({ unknown: 'public_03' });
  });

  it('cut a long tag to what PostgreSQL keeps, and still tell its version', () => {
    const long = `public_${'a'.repeat(55)}`;
    const tag = versionTag(long, 'an-application-name');
    expect(bytes(tag)).toBeLessThanOrEqual(63);
    expect(long.startsWith(tag.slice('tidal:'.length))).toBe(true);
    expect(versionOfTag(tag, ['public', long])).toBe(long);
    // Two versions the cut tag could be: neither is guessed.
    const twin = `${long.slice(0, -1)}b`;
    expect(versionOfTag(tag, [long, twin])).toEqual({ unknown: tag.slice('tidal:'.length) });
  });

  it('cut between characters, never inside one', () => {
    const tag = versionTag(`public_${'é'.repeat(40)}`);
    expect(bytes(tag)).toBeLessThanOrEqual(63);
    expect(tag).not.toContain('\uFFFD');
    expect(Buffer.from(tag).toString()).toBe(tag);
  });

  it('recognise a version schema outside ASCII in the forms the server keeps of it', () => {
    const schema = 'public_café';
    // PostgreSQL 15 and older write `?` per byte outside printable ASCII, 16 and newer `\xNN`.
    expect(versionOfTag('tidal:public_caf??:orders', ['public', schema])).toBe(schema);
    expect(versionOfTag('tidal:public_caf\\xc3\\xa9', ['public', schema])).toBe(schema);
    expect(versionOfTag(versionTag(schema), ['public', schema])).toBe(schema);
  });
});

describe('versionSessionParameters and libpqOptions', () => {
  it('put the version schema first, the application schema after it', () => {
    expect(versionSessionParameters({ schema: 'public', versionSchema: 'public_02' })).toEqual({
      search_path: 'public_02,public',
      'tidal.version': 'public_02',
      application_name: 'tidal:public_02',
    });
    expect(
      versionSessionParameters({ schema: 'public', versionSchema: 'public' }).search_path,
    ).toBe('public');
  });

  it('quote odd schema names for search_path and escape spaces and backslashes for libpq', () => {
    const parameters = versionSessionParameters({
      schema: 'App Data',
      versionSchema: 'App Data_"v2" \\x',
    });
    expect(parameters.search_path).toBe('"App Data_""v2"" \\x","App Data"');
    expect(libpqOptions(parameters)).toBe(
      '-c search_path="App\\ Data_""v2""\\ \\\\x","App\\ Data" -c tidal.version=App\\ Data_"v2"\\ \\\\x',
    );
  });
});
