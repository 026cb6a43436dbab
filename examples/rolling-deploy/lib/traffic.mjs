/**
 * The service's clients: workers that send requests through a load balancer the whole deploy
 * long, each keeping its own record of what it wrote, and checking every read against it. What
 * they felt is counted per phase of the deploy.
 */

/** Round-robin over the instances that are in service. */
export class LoadBalancer {
  #ports = [];
  #next = 0;

  add(port) {
    this.#ports.push(port);
  }

  remove(port) {
    this.#ports = this.#ports.filter((p) => p !== port);
  }

  pick() {
    if (this.#ports.length === 0) throw new Error('no instance in service');
    return this.#ports[this.#next++ % this.#ports.length];
  }
}

/** What one phase of the deploy felt. */
class PhaseFigures {
  requests = 0;
  failed = 0;
  wrongReads = 0;
  latenciesMs = [];
  firstFailures = [];

  summary(name) {
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return {
      phase: name,
      requests: this.requests,
      failed: this.failed,
      wrongReads: this.wrongReads,
      p50Ms: round(at(0.5)),
      p99Ms: round(at(0.99)),
      maxMs: round(sorted.at(-1) ?? 0),
      firstFailures: this.firstFailures,
    };
  }
}

export class Traffic {
  /** Name and balance of every account, as the last acknowledged write left it. */
  expected = new Map();
  #phases = new Map();
  #phase;
  #running = false;
  #loops = [];

  /** `seeded`: accounts 1..seeded exist with name `seed <id>` and balance id. */
  constructor(balancer, { workers, seeded, pauseMs = 5 }) {
    this.balancer = balancer;
    this.workers = workers;
    this.pauseMs = pauseMs;
    for (let id = 1; id <= seeded; id++) this.expected.set(id, { name: `seed ${id}`, balance: id });
    this.seeded = seeded;
  }

  /** Requests from now on count under `name`. */
  phase(name) {
    this.#phase = new PhaseFigures();
    this.#phases.set(name, this.#phase);
  }

  start() {
    this.#running = true;
    for (let w = 0; w < this.workers; w++) this.#loops.push(this.#work(w));
  }

  async stop() {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  figures() {
    return [...this.#phases].map(([name, phase]) => phase.summary(name));
  }

  async #work(worker) {
    // Each worker owns the seeded accounts with id ≡ worker (mod workers) and those it creates:
    // nobody else writes them, so every read of them must show its last write.
    const owned = [];
    for (let id = worker + 1; id <= this.seeded; id += this.workers) owned.push(id);
    for (let round = 0; this.#running; round++) {
      const phase = this.#phase;
      const id = owned[(round * 7919) % owned.length];
      const balance = worker * 1_000_000 + round;
      const name = `worker ${worker} round ${round}`;
      switch (round % 4) {
        case 0: {
          const created = await this.#request(phase, 'POST', '/accounts', { name, balance });
          if (created) {
            owned.push(created.id);
            this.expected.set(created.id, { name, balance });
          }
          break;
        }
        case 2: {
          const updated = await this.#request(phase, 'PUT', `/accounts/${id}`, { name, balance });
          if (updated) this.expected.set(id, { name, balance });
          break;
        }
        default: {
          const read = await this.#request(phase, 'GET', `/accounts/${id}`);
          const want = this.expected.get(id);
          if (read && (read.name !== want.name || read.balance !== want.balance)) {
            phase.wrongReads++;
            note(
              phase,
              `read of account ${id}: ${JSON.stringify(read)}, wrote ${JSON.stringify(want)}`,
            );
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    }
  }

  /** One request; its answer, or undefined when it failed (counted). */
  async #request(phase, method, path, body) {
    const started = performance.now();
    phase.requests++;
    try {
      const response = await fetch(`http://127.0.0.1:${this.balancer.pick()}${path}`, {
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      const json = await response.json();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${json.error}`);
      return json;
    } catch (error) {
      phase.failed++;
      note(phase, error.message);
      return undefined;
    } finally {
      phase.latenciesMs.push(performance.now() - started);
    }
  }
}

function note(phase, message) {
  if (phase.firstFailures.length < 5) phase.firstFailures.push(message);
}

function round(ms) {
  return Math.round(ms * 10) / 10;
}
