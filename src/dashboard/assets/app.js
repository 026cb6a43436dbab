// The dashboard page: draws each update the server sends (server-sent events from
// /api/events). Everything from the database is written as text, never as markup.

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2'];

/** The samples the charts draw, newest last (the server keeps ten minutes). */
let samples = [];
let lastUpdate = 0;

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function number(n) {
  return Math.round(n).toLocaleString('en-US');
}

function rate(n) {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n >= 10 ? String(Math.round(n)) : n.toFixed(1);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes}m${Math.round(seconds % 60)}s`
    : `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

function bytes(n) {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value >= 10 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function drawMigration(status) {
  const active = status?.active;
  $('migration').textContent = active
    ? `${active.name} → ${active.versionSchema}`
    : status?.latest
      ? `latest: ${status.latest.name}`
      : 'no migration';
  $('phase').textContent = active ? active.phase : 'idle';
  $('phase').dataset.phase = active ? active.phase : 'idle';
}

function drawTables(status) {
  const box = $('tables');
  const backfills = status?.active?.backfills ?? [];
  if (backfills.length === 0) {
    box.replaceChildren(el('p', { class: 'empty' }, 'no backfill'));
    return;
  }
  box.replaceChildren(
    ...backfills.map((b, i) => {
      // Where it stands, as tidal status reckons it.
      const { running, rows, total } = b.standing;
      const s = { pass: running ?? 'done', rows, total, running: running !== null };
      const percent = s.total > 0 ? Math.min(100, (100 * s.rows) / s.total) : 100;
      const bar = el('div', { class: 'bar' }, el('div', { class: 'fill' }));
      bar.firstChild.style.width = `${percent.toFixed(1)}%`;
      bar.firstChild.style.background = COLORS[i % COLORS.length];
      const throttle = b.throttle && s.running ? b.throttle : 'nothing';
      const facts = [
        ['pass', s.pass],
        ['rows done', `${number(s.rows)} of ${number(s.total)}`],
        ['rows left', number(Math.max(0, s.total - s.rows))],
        ['rows/s', s.running && b.rowsPerSecond ? rate(b.rowsPerSecond) : '–'],
        ['ETA', s.running ? duration(b.etaSeconds) : 'done'],
        ['batch size', b.batchSize ? number(b.batchSize) : '–'],
        ['workers', String(b.workers ?? 1)],
        ['slowed by', throttle],
      ];
      return el(
        'div',
        { class: 'table-card', 'data-table': b.table },
        el('h3', {}, b.table, el('span', { class: 'percent' }, ` ${percent.toFixed(1)}%`)),
        bar,
        el(
          'dl',
          {},
          ...facts.flatMap(([term, value]) => [
            el('dt', {}, term),
            el('dd', { 'data-fact': term }, value),
          ]),
        ),
      );
    }),
  );
}

/** A line chart of `series` (name → [at, value][]) over the samples' time span. */
function lineChart(target, series, { unit = '', height = 160 } = {}) {
  const width = 600;
  const pad = { left: 48, right: 8, top: 8, bottom: 18 };
  const points = Object.values(series).flat();
  target.replaceChildren();
  target.setAttribute('viewBox', `0 0 ${width} ${height}`);
  if (points.length < 2) {
    const text = svg('text', {
      x: width / 2,
      y: height / 2,
      'text-anchor': 'middle',
      class: 'axis',
    });
    text.textContent = 'waiting for data';
    target.append(text);
    return;
  }
  const t0 = Math.min(...points.map((p) => p[0]));
  const t1 = Math.max(...points.map((p) => p[0]), t0 + 1);
  const top = Math.max(...points.map((p) => p[1]), 1) * 1.1;
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    target.append(
      svg('line', {
        x1: pad.left,
        x2: width - pad.right,
        y1: y(value),
        y2: y(value),
        class: 'grid',
      }),
    );
    const label = svg('text', {
      x: pad.left - 4,
      y: y(value) + 4,
      'text-anchor': 'end',
      class: 'axis',
    });
    label.textContent = `${rate(value)}${unit}`;
    target.append(label);
  }
  const span = svg('text', {
    x: width - pad.right,
    y: height - 4,
    'text-anchor': 'end',
    class: 'axis',
  });
  span.textContent = `last ${duration((t1 - t0) / 1000)}`;
  target.append(span);
  Object.entries(series).forEach(([name, line], i) => {
    const path = svg('polyline', {
      points: line.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
      stroke: COLORS[i % COLORS.length],
      class: 'series',
      'data-series': name,
    });
    target.append(path);
  });
}

function drawRowsChart(status) {
  const tables = (status?.active?.backfills ?? []).map((b) => b.table);
  const series = {};
  for (const table of tables)
    series[table] = samples
      .filter((s) => table in s.rowsPerSecond)
      .map((s) => [s.at, s.rowsPerSecond[table]]);
  lineChart($('rows-chart'), series, { unit: '/s' });
}

/** The parts of the migration as spans of time: [name, from, to], from its steps' runs and
 *  its events (the backfill lies between expand and validate). */
function phaseSpans(steps, status, events) {
  const now = Date.now();
  const span = (part) => {
    const runs = steps.filter((s) => s.phase === part);
    if (runs.length === 0) return null;
    const starts = runs.map((s) => Date.parse(s.startedAt));
    return [Math.min(...starts), Math.max(...runs.map((s, i) => starts[i] + s.ms))];
  };
  const name = status?.active?.name ?? status?.latest?.name;
  const phase = status?.active?.phase;
  const at = (kind) => {
    const event = events.find((e) => e.migration === name && e.kind === kind);
    return event ? Date.parse(event.at) : undefined;
  };
  const expand = span('start');
  const validate = span('afterBackfill');
  const contract = span('complete');
  const rollback = span('rollback');
  const started = at('started');
  const spans = [];
  if (expand) {
    spans.push(['expand', ...expand]);
    const filled = validate?.[0] ?? started ?? (phase === 'starting' ? now : expand[1]);
    spans.push(['backfill', expand[1], filled]);
  }
  if (validate) spans.push(['validate', ...validate]);
  const live = validate?.[1] ?? started;
  if (live !== undefined)
    spans.push(['both versions', live, contract?.[0] ?? rollback?.[0] ?? now]);
  if (contract) spans.push(['contract', ...contract]);
  if (rollback) spans.push(['rollback', ...rollback]);
  return spans;
}

function drawTimeline(steps, status, events) {
  const target = $('timeline');
  target.replaceChildren();
  const body = $('steps').querySelector('tbody');
  if (steps.length === 0) {
    body.replaceChildren(
      el('tr', {}, el('td', { colspan: '6', class: 'empty' }, 'no step has run')),
    );
    return;
  }
  const spans = phaseSpans(steps, status, events);
  const starts = steps.map((s) => Date.parse(s.startedAt));
  const t0 = Math.min(...starts, ...spans.map((p) => p[1]));
  const t1 = Math.max(...steps.map((s, i) => starts[i] + s.ms), ...spans.map((p) => p[2]));
  const width = 600;
  const x = (t) => 4 + ((t - t0) / Math.max(1, t1 - t0)) * (width - 8);
  spans.forEach(([name, from, to], i) => {
    const rect = svg('rect', {
      x: x(from),
      y: 16,
      width: Math.max(2, x(to) - x(from)),
      height: 14,
      class: `span span-${i % 3}`,
      'data-span': name,
    });
    const title = svg('title');
    title.textContent = `${name}: ${duration((to - from) / 1000)}`;
    rect.append(title);
    target.append(rect);
    if (x(to) - x(from) > 44) {
      const label = svg('text', { x: x(from) + 3, y: 12, class: 'axis' });
      label.textContent = `${name} ${duration((to - from) / 1000)}`;
      target.append(label);
    }
  });
  steps.forEach((s, i) => {
    const start = starts[i];
    const tick = svg('rect', {
      x: x(start),
      y: 34,
      width: Math.max(2, x(start + s.ms) - x(start)),
      height: 10,
      class: `step lock-${s.lock}`,
    });
    const title = svg('title');
    title.textContent = `${s.summary} (${s.lock}, waited ${s.waitedMs} ms, took ${s.ms} ms)`;
    tick.append(title);
    target.append(tick);
  });
  body.replaceChildren(
    ...steps.map((s) =>
      el(
        'tr',
        {},
        el('td', {}, s.phase),
        el('td', {}, s.summary),
        el('td', {}, el('span', { class: `lock lock-${s.lock}` }, s.lock)),
        el('td', {}, `${s.waitedMs} ms`),
        el('td', {}, `${s.ms} ms`),
        el('td', {}, String(s.attempts)),
      ),
    ),
  );
}

function drawHealth(health) {
  const latest = samples.at(-1);
  const waiting = health.lockWaits.filter((w) => !w.own);
  const longest = health.longestTransaction;
  const facts = [
    ['sessions waiting on locks', String(waiting.length)],
    ['rollbacks/s', latest ? rate(latest.rollbacksPerSecond) : '–'],
    ['deadlocks/min', latest ? rate(latest.deadlocksPerMinute) : '–'],
    [
      'replica lag',
      health.replicaLagMs === null
        ? (health.replicaLagUnreadable ?? 'no standby')
        : `${number(health.replicaLagMs)} ms`,
    ],
    ['WAL/s', latest ? bytes(latest.walBytesPerSecond) : '–'],
    [
      'longest transaction',
      longest
        ? `${duration(longest.seconds)} (pid ${longest.pid}, ${longest.applicationName || 'no name'})`
        : 'none',
    ],
  ];
  $('health').replaceChildren(
    ...facts.flatMap(([term, value]) => [
      el('dt', {}, term),
      el('dd', { 'data-fact': term }, value),
    ]),
  );
  const charts = [
    ['lock waiters', (s) => s.lockWaiters, ''],
    ['rollbacks/s', (s) => s.rollbacksPerSecond, '/s'],
    ['WAL', (s) => s.walBytesPerSecond / 2 ** 20, ' MB/s'],
    ['replica lag', (s) => s.replicaLagMs ?? 0, ' ms'],
  ];
  $('health-charts').replaceChildren(
    ...charts.map(([name, value, unit]) => {
      const chart = svg('svg', { class: 'spark', role: 'img', 'aria-label': name });
      lineChart(chart, { [name]: samples.map((s) => [s.at, value(s)]) }, { unit, height: 90 });
      return el('figure', {}, chart, el('figcaption', {}, name));
    }),
  );
  $('waits').replaceChildren(
    ...(health.lockWaits.length === 0
      ? [el('li', { class: 'empty' }, 'none')]
      : health.lockWaits.map((w) =>
          el(
            'li',
            {},
            `pid ${w.pid} (${w.applicationName || 'no name'}) has waited ${duration(w.waitingSeconds)} on ${
              w.blockedBy
                .map(
                  (b) =>
                    `pid ${b.pid} (${b.applicationName || 'no name'}${b.own ? ', tidal' : ''})`,
                )
                .join(', ') || 'a lock'
            }: ${w.query}`,
          ),
        )),
  );
}

function drawSessions(sessions) {
  const rows = [
    ...(sessions?.versions ?? []).map((v) => [
      v.name ?? '(not live)',
      v.versionSchema,
      v.count,
      v.applications.join(', '),
    ]),
    [
      'untagged',
      '',
      sessions?.untagged.count ?? 0,
      sessions?.untagged.applications.join(', ') ?? '',
    ],
  ];
  $('sessions')
    .querySelector('tbody')
    .replaceChildren(
      ...rows.map((cells) => el('tr', {}, ...cells.map((c) => el('td', {}, String(c))))),
    );
}

function drawEvents(events, changes) {
  const lines = [
    ...events.map((e) => ({ at: e.at, text: `${e.migration ?? ''}: ${e.kind.replace('_', ' ')}` })),
    ...changes.map((c) => ({ at: c.at, text: c.message })),
  ].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  $('events').replaceChildren(
    ...(lines.length === 0
      ? [el('li', { class: 'empty' }, 'nothing yet')]
      : lines
          .slice(0, 60)
          .map((l) =>
            el('li', {}, el('time', {}, new Date(l.at).toLocaleTimeString()), ` ${l.text}`),
          )),
  );
}

function draw(update) {
  lastUpdate = Date.now();
  $('link').textContent = 'live';
  $('link').classList.remove('stale');
  $('controls').hidden = !update.controls;
  const error = $('error');
  error.hidden = !update.error;
  error.textContent = update.error ? `reading the database failed: ${update.error}` : '';
  samples = samples.concat(update.samples).slice(-600);
  const snapshot = update.snapshot;
  if (!snapshot) return;
  drawMigration(snapshot.status);
  drawTables(snapshot.status);
  drawRowsChart(snapshot.status);
  drawTimeline(snapshot.steps, snapshot.status, snapshot.events);
  drawHealth(snapshot.health);
  drawSessions(snapshot.status.sessions);
  drawEvents(snapshot.events, update.changes);
}

async function control(body) {
  const result = $('control-result');
  result.textContent = '…';
  const response = await fetch('/api/backfill', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${$('token').value}` },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  result.textContent = response.ok
    ? `${answer.paused ? 'paused' : 'running'}${answer.rowsPerSecond ? `, at most ${answer.rowsPerSecond} rows/s` : ''}`
    : (answer.error ?? `refused (${response.status})`);
  result.dataset.ok = String(response.ok);
}

function start() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token) $('token').value = token;
  $('pause').addEventListener('click', () => control({ pause: true }));
  $('resume').addEventListener('click', () => control({ resume: true }));
  $('set-rate').addEventListener('click', () =>
    control({ rowsPerSecond: Number($('rate').value) }),
  );
  const events = new EventSource('/api/events');
  events.onmessage = (message) => draw(JSON.parse(message.data));
  setInterval(() => {
    if (Date.now() - lastUpdate > 5000) {
      $('link').textContent = 'stale: no update for 5 s';
      $('link').classList.add('stale');
    }
  }, 1000);
}

start();
