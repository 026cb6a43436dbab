import { describe, expect, it } from 'vitest';
import { Throttler, type ThrottleSignal } from '../../src/backfill/throttle.js';

function signal(name: string, read: ThrottleSignal['read']): ThrottleSignal {
  return { name, read };
}

describe('Throttler', () => {
  it('goes on while every signal is within its limit', async () => {
    const throttler = new Throttler([
      signal('replica lag', async () => ({ value: 50, limit: 10_000, unit: 'ms' })),
      signal('active sessions', async () => ({ value: 3, limit: 20, unit: 'sessions' })),
    ]);
    expect(await throttler.reason()).toBeNull();
  });

  it('holds, naming the signal, its value and limit, when one is over', async () => {
    const throttler = new Throttler([
      signal('replica lag', async () => ({ value: 12_345.6, limit: 10_000, unit: 'ms' })),
    ]);
    expect(await throttler.reason()).toBe('replica lag 12346 ms over 10000 ms');
  });

  it('holds when a signal cannot be read, or its reading fails, rather than run blind', async () => {
    const hidden = new Throttler([
      signal('replica lag', async () => ({ unreadable: 'grant pg_monitor' })),
    ]);
    expect(await hidden.reason()).toBe('replica lag cannot be read (grant pg_monitor)');
    const failing = new Throttler([
      signal('replica lag at db2:5432', async () => {
        throw new Error('connection refused');
      }),
    ]);
    expect(await failing.reason()).toBe(
      'replica lag at db2:5432 cannot be read (connection refused)',
    );
  });
});
