#!/usr/bin/env node
'use strict';
// Plots of the benchmarks against cluster size, as SVG written by hand (no
// dependencies): a reader sees how failure detection, convergence and the
// cost per node grow with N faster than from a table.
//
//   node bench/plot.js                         # redraw from bench/plots/data.json
//   node bench/plot.js --sim FILE              # take the simulator's results from
//                                              # `node bench/sim.js --json FILE`
//   node bench/plot.js --cluster FILE          # and/or the cluster benchmark's JSON
//                                              # (bench/out/cluster-<stamp>.json)
//
// The points drawn are kept in bench/plots/data.json, next to the SVGs: the
// simulator's run and the cluster benchmark's run come at different times,
// and each replaces only its own part. bench/sim.js and bench/run.js call
// this after a standard run, so the plots follow the README's figures.
//
// bench/plots/detection.svg  a stopped peer failed everywhere, and all peers
//                            knowing all, against N (log-log)
// bench/plots/cost.svg       bytes sent, memory and CPU per node against N

const fs = require('fs');
const path = require('path');

const DIR = path.join(__dirname, 'plots');
const DATA = path.join(DIR, 'data.json');

// ------------------------------------------------------------------ data

/** The fields of the simulator's results that the plots use (bench/sim.js --json). */
function fromSim(results, date) {
  const ok = results.filter((r) => !r.error);
  return {
    date: (ok[0] && ok[0].date) || date,
    results: ok.map((r) => ({
      nodes: r.n,
      joinS: r.join_ms === null ? null : r.join_ms / 1000,
      spreadS: r.spread_ms === null ? null : r.spread_ms / 1000,
      bytesPerNodeS: r.bytes_per_node_s,
      falseFailures: r.false_failures,
      detectEverywhereMs: r.fail_ms,
      protocol: r.protocol || 'probes',
    })),
  };
}

/** The fields of the cluster benchmark's results that the plots use (bench/run.js). */
function fromCluster(saved) {
  const value = (x) => (x && x.ms != null ? { ms: x.capped ? x.capMs : x.ms, capped: Boolean(x.capped) } : null);
  return {
    date: saved.machine.date,
    results: saved.results.filter((r) => !r.error).map((r) => ({
      impl: r.impl,
      n: r.n,
      join: value(r.join),
      detect: value(r.detect),
      cpuPct: r.steady ? r.steady.cpuPct : null,
      rssMB: r.steady ? r.steady.rssMB : null,
      bytesPerPeerPerRound: r.steady ? r.steady.bytesPerPeerPerRound : null,
    })),
  };
}

function load() {
  try {
    return JSON.parse(fs.readFileSync(DATA, 'utf8'));
  } catch (e) {
    return { sim: null, cluster: null };
  }
}

function save(data) {
  fs.mkdirSync(DIR, { recursive: true });
  fs.writeFileSync(DATA, `${JSON.stringify(data, null, 1)}\n`);
}

// ------------------------------------------------------------------ drawing

const COLORS = { gossiper: '#1f63b4', original: '#c62828', sim: '#2e7d32', sim2: '#7cb342', old: '#f9a825' };
const W = 400; // panel width
const H = 280; // panel height
const M = { left: 62, right: 24, top: 34, bottom: 44 };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x) => Math.round(x * 10) / 10;

/** Ticks of a log axis from lo to hi: 1, 2, 5 × 10^k. */
function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function label(v) {
  if (v >= 1e9) return `${num(v / 1e9)} G`;
  if (v >= 1e6) return `${num(v / 1e6)} M`;
  if (v >= 1e4) return `${num(v / 1e3)} k`;
  return String(v >= 1 ? Math.round(v * 100) / 100 : v.toPrecision(1));
}

/** The bounds of a log axis holding every value, widened to 1-2-5 steps. */
function bounds(values) {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const down = (v) => [1, 2, 5].map((m) => m * 10 ** Math.floor(Math.log10(v))).filter((s) => s <= v).pop();
  const up = (v) => [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(v))).find((s) => s >= v);
  let a = down(lo);
  let b = up(hi);
  if (a === b) { a /= 2; b *= 2; }
  return [a, b];
}

/**
 * One panel at (x0, y0): `series` of { name, color, dashed, points: [{ x, y, capped }] },
 * log-scaled on both axes, x over `xs` (every panel of a figure the same).
 * A capped point (the wait ran out) is drawn hollow
 * with a "≥": the true value is larger.
 */
function panel(x0, y0, title, xLabel, yLabel, series, xs) {
  const pts = series.flatMap((s) => s.points);
  const out = [`<g transform="translate(${x0},${y0})">`];
  out.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  if (pts.length === 0) {
    out.push(`<text x="${M.left + pw / 2}" y="${M.top + ph / 2}" text-anchor="middle" fill="#777">no data yet</text></g>`);
    return out.join('\n');
  }
  const [xa, xb] = bounds(xs || pts.map((p) => p.x));
  const [ya, yb] = bounds(pts.map((p) => p.y));
  const sx = (v) => M.left + ((Math.log10(v) - Math.log10(xa)) / (Math.log10(xb) - Math.log10(xa))) * pw;
  const sy = (v) => M.top + ph - ((Math.log10(v) - Math.log10(ya)) / (Math.log10(yb) - Math.log10(ya))) * ph;
  for (const t of logTicks(xa, xb)) {
    out.push(`<line x1="${num(sx(t))}" y1="${M.top}" x2="${num(sx(t))}" y2="${M.top + ph}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${num(sx(t))}" y="${M.top + ph + 14}" text-anchor="middle">${label(t)}</text>`);
  }
  for (const t of logTicks(ya, yb)) {
    out.push(`<line x1="${M.left}" y1="${num(sy(t))}" x2="${M.left + pw}" y2="${num(sy(t))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${M.left - 5}" y="${num(sy(t)) + 4}" text-anchor="end">${label(t)}</text>`);
  }
  out.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(14,${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  for (const s of series) {
    const p = [...s.points].sort((a, b) => a.x - b.x);
    if (p.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} ` +
        `points="${p.map((q) => `${num(sx(q.x))},${num(sy(q.y))}`).join(' ')}"/>`);
    }
    for (const q of p) {
      out.push(`<circle cx="${num(sx(q.x))}" cy="${num(sy(q.y))}" r="4" fill="${q.capped ? 'white' : s.color}" stroke="${s.color}" stroke-width="2">` +
        `<title>${esc(`${s.name}, N = ${q.x}: ${q.capped ? '≥ ' : ''}${label(q.y)}`)}</title></circle>`);
      if (q.capped) out.push(`<text x="${num(sx(q.x)) + 7}" y="${num(sy(q.y)) - 6}" fill="${s.color}">≥</text>`);
    }
  }
  out.push('</g>');
  return out.join('\n');
}

/** A panel's legend below it, one series a line. */
function legend(x0, y0, series) {
  const out = [`<g transform="translate(${x0},${y0})">`];
  series.forEach((s, i) => {
    const y = 15 * i;
    out.push(`<line x1="0" y1="${y - 4}" x2="22" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<circle cx="11" cy="${y - 4}" r="3.5" fill="${s.color}"/>`);
    out.push(`<text x="28" y="${y}">${esc(s.name)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

function svg(width, height, title, caption, body) {
  const lines = caption.map((c, i) => `<text x="10" y="${height - 8 - 15 * (caption.length - 1 - i)}" fill="#555" font-size="11">${esc(c)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="Helvetica, Arial, sans-serif" font-size="12">\n<title>${esc(title)}</title>\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${body}\n${lines.join('\n')}\n</svg>\n`;
}

// ------------------------------------------------------------------ the plots

function clusterSeries(cluster, pick, names = { gossiper: 'gossiper (cluster)', original: 'node-gossip (cluster)' }) {
  if (!cluster) return [];
  return ['gossiper', 'original'].map((impl) => ({
    name: names[impl],
    color: COLORS[impl],
    points: cluster.results.filter((r) => r.impl === impl).map((r) => ({ x: r.n, ...pick(r) })).filter((p) => p.y > 0),
  })).filter((s) => s.points.length);
}

/** One series per protocol the simulator ran: probes (shipping), heartbeats (node-gossip's design). */
function simSeries(sim, name, color, pick, dashed = false) {
  if (!sim) return [];
  const out = [];
  for (const [protocol, label, c] of [['probes', 'probes', color], ['heartbeats', 'heartbeat rounds', COLORS.old]]) {
    const points = sim.results.filter((r) => (r.protocol || 'probes') === protocol)
      .map((r) => ({ x: r.nodes, y: pick(r) })).filter((p) => p.y > 0);
    if (points.length) out.push({ name: `${name} (${label})`, color: c, dashed, points });
  }
  return out;
}

function sources(data) {
  const s = [];
  if (data.cluster) s.push(`Cluster: \`npm run bench\`, ${data.cluster.date.slice(0, 10)}, all N peers in one process on one machine`);
  if (data.sim) s.push(`Simulator: \`npm run bench:sim\`, ${String(data.sim.date).slice(0, 10)}, virtual time, no CPU limit`);
  return ['Log-log; default settings, 1 s rounds. A hollow point: the wait was capped, the true value is larger.', ...s.map((x) => `${x}.`)];
}

/** Every N a figure shows, so its panels share the x axis. */
function sizes(data) {
  return [...(data.cluster ? data.cluster.results.map((r) => r.n) : []), ...(data.sim ? data.sim.results.map((r) => r.nodes) : [])];
}

function detectionPlot(data) {
  const left = [
    ...clusterSeries(data.cluster, (r) => (r.detect ? { y: r.detect.ms / 1000, capped: r.detect.capped } : { y: 0 })),
    ...simSeries(data.sim, 'simulator, failed everywhere', COLORS.sim, (r) => (r.detectEverywhereMs || 0) / 1000),
  ];
  const right = [
    ...clusterSeries(data.cluster, (r) => (r.join ? { y: r.join.ms / 1000, capped: r.join.capped } : { y: 0 })),
    ...simSeries(data.sim, 'simulator, all know all', COLORS.sim, (r) => r.joinS || 0),
    ...simSeries(data.sim, 'simulator, one key reaches all', COLORS.sim2, (r) => r.spreadS || 0, true),
  ];
  const rows = Math.max(left.length, right.length);
  const body = [
    panel(0, 0, 'A stopped peer is failed everywhere', 'peers (N)', 'seconds', left, sizes(data)),
    panel(W + 10, 0, 'All peers know all peers', 'peers (N)', 'seconds', right, sizes(data)),
    legend(M.left, H + 12, left),
    legend(W + 10 + M.left, H + 12, right),
  ].join('\n');
  return svg(2 * W + 10, H + 22 + 15 * (rows + sources(data).length), 'Failure detection and convergence against N', sources(data), body);
}

function costPlot(data) {
  const bytes = [
    ...clusterSeries(data.cluster, (r) => ({ y: r.bytesPerPeerPerRound || 0 })),
    ...simSeries(data.sim, 'simulator, quiet cluster', COLORS.sim, (r) => r.bytesPerNodeS),
  ];
  const memory = [
    ...clusterSeries(data.cluster, (r) => ({ y: r.rssMB ? (r.rssMB * 2 ** 20) / r.n / 1024 : 0 })),
  ];
  const cpu = clusterSeries(data.cluster, (r) => ({ y: r.cpuPct ? (r.cpuPct * 10) / r.n : 0 }));
  const rows = Math.max(bytes.length, memory.length, cpu.length);
  const body = [
    panel(0, 0, 'Bytes sent per node per second (1 s rounds)', 'peers (N)', 'bytes', bytes, sizes(data)),
    panel(W + 10, 0, 'Memory per node', 'peers (N)', 'KiB (cluster: RSS ÷ N)', memory, sizes(data)),
    panel(2 * (W + 10), 0, 'CPU per node', 'peers (N)', 'ms of CPU per second', cpu, sizes(data)),
    legend(M.left, H + 12, bytes),
    legend(W + 10 + M.left, H + 12, memory),
    legend(2 * (W + 10) + M.left, H + 12, cpu),
  ].join('\n');
  return svg(3 * W + 20, H + 22 + 15 * (rows + sources(data).length), 'Cost per node against N', sources(data), body);
}

/** Redraws every plot from bench/plots/data.json; returns the files written. */
function draw(data = load()) {
  fs.mkdirSync(DIR, { recursive: true });
  const files = { 'detection.svg': detectionPlot(data), 'cost.svg': costPlot(data) };
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(DIR, name), text);
  return Object.keys(files).map((f) => path.join(DIR, f));
}

/** Replaces the simulator's or the cluster benchmark's part of the data, then redraws. */
function update({ sim, cluster }) {
  const data = load();
  if (sim) data.sim = fromSim(sim.results, sim.date);
  if (cluster) data.cluster = fromCluster(cluster);
  save(data);
  return draw(data);
}

function main(argv) {
  const given = {};
  for (let i = 0; i < argv.length; i++) {
    const file = argv[i + 1];
    if ((argv[i] === '--sim' || argv[i] === '--cluster') && file) {
      const json = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (argv[i] === '--sim') {
        // a date from the file name when the results carry none
        const m = /(\d{4}-\d{2}-\d{2})/.exec(path.basename(file));
        given.sim = { results: json, date: m ? m[1] : fs.statSync(file).mtime.toISOString() };
      } else {
        given.cluster = json;
      }
      i++;
    } else {
      console.error('usage: node bench/plot.js [--sim SIM.json] [--cluster CLUSTER.json]');
      process.exit(2);
    }
  }
  const files = Object.keys(given).length ? update(given) : draw();
  for (const f of files) console.log(path.relative(process.cwd(), f));
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { update, draw };
