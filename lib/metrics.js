'use strict';
// The Prometheus metrics of every running gossiper of this realm, read from
// stats() at scrape time by prom-client collect callbacks: nothing is
// counted twice and nothing runs between scrapes. Every series carries the
// gossiper's name (its peer_name) as the label `gossiper`.
const { each } = require('./hub');

// One reading of every running gossiper per scrape: prom-client calls each
// metric's collect() in the same turn, and stats() walks every peer.
let reading = null;

function read() {
  if (reading === null) {
    reading = [];
    const seen = new Map(); // label → times used: observers all call themselves observer:0
    for (const g of each()) {
      if (g._state === 'stopped' || g.peer_name === undefined) continue;
      const n = (seen.get(g.peer_name) || 0) + 1;
      seen.set(g.peer_name, n);
      reading.push({ label: n === 1 ? g.peer_name : `${g.peer_name}#${n}`, self: g.peer_name, stats: g.stats() });
    }
    setImmediate(() => {
      reading = null;
    });
  }
  return reading;
}

const counter = (help, field, scale = 1) => ({ type: 'Counter', help, labels: [], values: (s) => [[{}, s[field] * scale]] });
const split = (type, help, label, fields) => ({
  type,
  help,
  labels: [label],
  values: (s) => Object.entries(fields).map(([value, field]) => [{ [label]: value }, s[field]]),
});
const others = (r) => r.stats.peers.filter((p) => p.name !== r.self);

// name → { type, help, labels (besides `gossiper`), values(stats, reading) → [[labels, value]] }
const METRICS = {
  gossiper_peers: {
    type: 'Gauge',
    help: 'Other peers this gossiper knows, by status (alive, failed, left).',
    labels: ['status'],
    values: (s, r) => ['alive', 'failed', 'left'].map((status) => [{ status }, others(r).filter((p) => p.status === status).length]),
  },
  gossiper_peer_phi: {
    type: 'Gauge',
    help: "The failure detector's phi of each other peer; it is reported failed above phiThreshold.",
    labels: ['peer'],
    values: (s, r) => others(r).map((p) => [{ peer: p.name }, p.phi]),
  },
  gossiper_rounds_total: counter('Gossip rounds run.', 'rounds'),
  gossiper_stalled_seconds_total: counter("How far this gossiper's own rounds fell behind (an overloaded or suspended process), in all.", 'stalledMs', 1e-3),
  gossiper_exchanges_started_total: counter('Exchanges begun by this gossiper.', 'exchangesStarted'),
  gossiper_catch_up_exchanges_total: counter('Exchanges begun at once because the last one with the peer had to leave updates out.', 'catchUps'),
  gossiper_exchanges_completed_total: counter('Exchanges begun by this gossiper that ran to the end.', 'exchangesCompleted'),
  gossiper_exchanges_served_total: counter('Exchanges begun by a peer that this gossiper answered to the end.', 'exchangesServed'),
  gossiper_exchanges_failed_total: counter('Exchanges begun here that ended early (timeout, refusal, closed connection).', 'exchangesFailed'),
  gossiper_connect_failures_total: counter('Connections to a peer that could not be made.', 'connectFailures'),
  gossiper_connections_accepted_total: counter('Connections from peers accepted.', 'connectionsAccepted'),
  gossiper_messages_total: split('Counter', 'Gossip messages, by direction.', 'direction', { in: 'messagesIn', out: 'messagesOut' }),
  gossiper_bytes_total: split('Counter', 'Gossip bytes, by direction.', 'direction', { in: 'bytesIn', out: 'bytesOut' }),
  gossiper_refused_connections_total: {
    type: 'Counter',
    help: 'Connections closed early, by reason (as stats().refused).',
    labels: ['reason'],
    values: (s) => Object.entries(s.refused).sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => [{ reason }, n]),
  },
  gossiper_updates_total: split('Counter', 'Updates of peers\' keys received, by result.', 'result', {
    applied: 'updatesApplied', stale: 'updatesStale', refused: 'updatesRefused', about_self: 'updatesAboutSelf',
  }),
  gossiper_peers_refused_total: counter('Peer names refused: not host:port, or beyond maxPeers.', 'peersRefused'),
  gossiper_tombstones_collected_total: counter('Deleted keys forgotten after tombstoneTtlMs.', 'tombstonesCollected'),
  gossiper_events_total: counter('Events emitted.', 'events'),
  gossiper_datagrams_total: split('Counter', 'Probe and gossip datagrams between gossiper peers, by direction.', 'direction', { in: 'datagramsIn', out: 'datagramsOut' }),
  gossiper_suspicions_total: counter('Peers suspected: a probe went unanswered, or another node said so.', 'suspicions'),
  gossiper_refutations_total: counter('Suspicions of this gossiper that it refuted.', 'refutations'),
  gossiper_repairs_total: counter('Repair exchanges begun on a differing state summary.', 'repairs'),
  gossiper_pulls_total: counter('Exchanges begun to fetch updates too large for a datagram.', 'pulls'),
  gossiper_lags_total: counter('Times this gossiper found its own timers running late and held its judgement.', 'lags'),
  gossiper_cut_offs_total: counter('Returns after hearing from no peer for a while (its own verdicts of then are kept to itself).', 'cutOffs'),
};

/** Makes every metric, registered on `registry` only, with `client` (prom-client). */
function create(client, registry) {
  return Object.entries(METRICS).map(([name, spec]) => new client[spec.type]({
    name,
    help: spec.help,
    labelNames: ['gossiper', ...spec.labels],
    registers: [registry], // never prom-client's global registry
    collect() {
      this.reset();
      for (const r of read()) {
        for (const [labels, value] of spec.values(r.stats, r)) {
          const all = { gossiper: r.label, ...labels };
          if (spec.type === 'Gauge') this.set(all, value);
          else this.inc(all, value);
        }
      }
    },
  }));
}

module.exports = { METRICS, create };
