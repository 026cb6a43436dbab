import { describe, expect, it } from 'vitest';
import {
  CounterRate,
  type SignalLimits,
  Throttler,
  type ThrottleSignal,
} from '../../src/backfill/throttle.js';

function signal(name: string, limits: SignalLimits, read: ThrottleSignal['read']): ThrottleSignal {
  return { name, limits, read };
}

/** A signal that reads the values given, one per reading, the last one from then on. */
function readings(name: string, limits: SignalLimits, values: number[], unit = 'ms') {
  let next = 0;
  return signal(name, limits, async () => ({
    value: values[Math.min(next++, values.length - 1)] ?? 0,
    unit,
  }));
}

describe('Throttler', () => {
  it('goes on while every signal is within its limit', async () => {
    const throttler = new Throttler([
      readings('replica lag', { max: 10_000 }, [50]),
      readings('active sessions', { max: 20 }, [3], 'sessions'),
    ]);
    expect(await throttler.verdict()).toBeNull();
  });

  it('holds, naming the signal, its value and limit, when one is over', async () => {
    const throttler = new Throttler([readings('replica lag', { max: 10_000 }, [12_345.6])]);
    expect(await throttler.verdict()).toEqual({ hold: 'replica lag 12346 ms over 10000 ms' });
  });

  it('writes small rates with two digits and a unitless probe without a unit', async () => {
    const rate = new Throttler([readings('deadlock rate', { max: 0.5 }, [0.666], 'deadlocks/min')]);
    expect(await rate.verdict()).toEqual({
      hold: 'deadlock rate 0.67 deadlocks/min over 0.5 deadlocks/min',
    });
    const probe = new Throttler([readings('probe', { max: 10 }, [12], '')]);
    expect(await probe.verdict()).toEqual({ hold: 'probe 12 over 10' });
  });

  it('holds when a signal cannot be read, or its reading fails, rather than run blind', async () => {
    const hidden = new Throttler([
      signal('replica lag', { max: 1 }, async () => ({ unreadable: 'grant pg_monitor' })),
    ]);
    expect(await hidden.verdict()).toEqual({
      hold: 'replica lag cannot be read (grant pg_monitor)',
    });
    const failing = new Throttler([
      signal('replica lag at db2:5432', { max: 1 }, async () => {
        throw new Error('connection refused');
      }),
    ]);
    expect(await failing.verdict()).toEqual({
      hold: 'replica lag at db2:5432 cannot be read (connection refused)',
    });
  });

  it('stops only after two readings in a row past the critical limit; one spike holds', async () => {
    const spike = new Throttler([
      readings('probe', { max: 10, critical: 100 }, [150, 5, 150, 5], ''),
    ]);
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await spike.verdict());
    expect(seen).toEqual([{ hold: 'probe 150 over the critical 100' }, null, seen[0], null]);

    const load = new Throttler([
      readings('active sessions', { critical: 50 }, [60, 70], 'sessions'),
      readings('replica lag', { max: 10 }, [20]),
    ]);
    expect(await load.verdict()).toEqual({
      hold: 'active sessions 60 sessions over the critical 50 sessions',
    });
    expect(await load.verdict()).toEqual({
      stop: 'active sessions 70 sessions over the critical 50 sessions',
    });
  });

  it('never stops on a signal it cannot read', async () => {
    const blind = new Throttler([
      signal('probe', { critical: 1 }, async () => ({ unreadable: 'timeout' })),
    ]);
    for (let i = 0; i < 3; i++)
      expect(await blind.verdict()).toEqual({ hold: 'probe cannot be read (timeout)' });
  });
});

describe('CounterRate', () => {
  it('is the growth per second over the window, which slides', () => {
    const rate = new CounterRate(10_000);
    expect(rate.add(100, 0)).toBe(0);
    expect(rate.add(150, 5_000)).toBe(10);
    expect(rate.add(200, 10_000)).toBe(10);
    // The window now starts at the reading of 10 s ago, not at the first.
    expect(rate.add(200, 20_000)).toBe(0);
    expect(rate.add(260, 23_000)).toBeCloseTo(60 / 13);
  });

  it('counts a counter that went down (statistics reset) as no change', () => {
    const rate = new CounterRate(10_000);
    rate.add(500, 0);
    expect(rate.add(20, 1_000)).toBe(0);
  });
});
