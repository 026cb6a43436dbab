/**
 * Finds the first syntax error or duplicate key in JSON text, with its offset. JSON.parse does
 * neither well: it takes the last of duplicate keys silently, and on Node 20 some of its messages
 * carry no position.
 */
export interface JsonSyntaxError {
  message: string;
  /** Index into the text (UTF-16 code units). */
  index: number;
}

const MAX_DEPTH = 500;

class Failure extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  let depth = 0;

  const fail = (message: string): never => {
    throw new Failure(message, i);
  };
  const unexpected = (): never =>
    i >= text.length
      ? fail('unexpected end of input')
      : fail(`unexpected ${JSON.stringify(text[i])}`);
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const expect = (char: string) => {
    if (text[i] !== char) unexpected();
    i++;
  };

  const string = (): string => {
    const start = i;
    expect('"');
    while (text[i] !== '"') {
      const char = text[i];
      if (char === undefined) return fail('unterminated string');
      if (char < ' ') return fail('control character in string (escape it)');
      if (char === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail('invalid \\u escape');
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail('invalid escape');
      }
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };

  const number = () => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!match) unexpected();
    i += match?.[0].length ?? 0;
  };

  const value = (): void => {
    skipSpace();
    const char = text[i];
    if (char === '{' || char === '[') {
      // Bounded so that hostile input fails here rather than overflowing the stack.
      if (++depth > MAX_DEPTH) fail('nested too deeply');
      if (char === '{') object();
      else array();
      depth--;
      return;
    }
    if (char === '"') {
      string();
      return;
    }
    if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) {
      number();
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    unexpected();
  };

  const object = () => {
    expect('{');
    skipSpace();
    if (text[i] === '}') {
      i++;
      return;
    }
    const keys = new Set<string>();
    for (;;) {
      skipSpace();
      const keyStart = i;
      const key = string();
      if (keys.has(key)) {
        i = keyStart;
        fail(`duplicate key ${JSON.stringify(key)}`);
      }
      keys.add(key);
      skipSpace();
      expect(':');
      value();
      skipSpace();
      if (text[i] === '}') {
        i++;
        return;
      }
      expect(',');
    }
  };

  const array = () => {
    expect('[');
    skipSpace();
    if (text[i] === ']') {
      i++;
      return;
    }
    for (;;) {
      value();
      skipSpace();
      if (text[i] === ']') {
        i++;
        return;
      }
      expect(',');
    }
  };

  try {
    value();
    skipSpace();
    if (i < text.length) unexpected();
    return undefined;
  } catch (error) {
    if (error instanceof Failure) return { message: error.message, index: error.index };
    throw error;
  }
}
