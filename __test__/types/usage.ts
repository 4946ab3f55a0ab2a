// Compiled with `tsc --strict --noEmit` by __test__/types.test.js: what a TypeScript user
// writes must type-check, and each misuse marked with an expect-error comment must not (the
// test also compiles the file without those comments and checks that every marked line, and
// only those, has an error). Keep each misuse on the one line below its comment.

import { on } from 'events';
import { Registry } from 'prom-client';
import { register, unregister, METRIC_NAMES, MetricName } from '../../metrics';
import {
  Gossiper,
  GossiperEvents,
  GossiperListener,
  GossiperOptions,
  GossiperStats,
  PeerName,
  Value,
} from '../../index';

const options: GossiperOptions = { port: 9000, seeds: ['10.0.0.1:9000'], fanout: 3, detector: 'exponential' };
const a = new Gossiper(options);
const b = new Gossiper(9001, ['127.0.0.1:9000']);
const c = new Gossiper(9002, [], '127.0.0.1');

a.on('update', (peer: PeerName, key: string, value: unknown) => {
  const s: string = peer + key;
  void s;
  void value;
});
a.on('new_peer', (peer) => peer.toUpperCase());
a.on('peer_failed', (peer: string) => void peer);
a.on('peer_left', (peer: PeerName) => peer.length);
a.on('delete', (peer, key) => peer.length + key.length);
a.once('peer_alive', (peer) => peer.length);
a.prependListener('update', (peer, key, value: Value) => [peer, key, value]);
a.prependOnceListener('peer_removed', (peer) => peer);
const onUpdate: GossiperListener<'update'> = (peer, key, value) => void [peer, key, value];
a.on('update', onUpdate);
a.off('update', onUpdate);
a.removeListener('update', onUpdate);
const listeners: Array<GossiperListener<'update'>> = a.listeners('update');
const count: number = a.listenerCount('peer_failed');
type FailedArgs = GossiperEvents['peer_failed'];
const failedArgs: FailedArgs = ['10.0.0.1:9000'];
void [listeners, count, failedArgs];

async function main(): Promise<void> {
  await a.start();
  b.start((err?: Error) => {
    if (err) throw err;
  });
  a.setLocalState('role', { kind: 'api', port: 8080 });
  a.setLocalState('blob', Buffer.from('x'));
  a.setLocalState('when', new Date());
  a.setLocalState('big', 1n << 60n);
  a.setLocalState('list', [1, 'two', null, { three: [3] }]);
  a.setLocalState('optional', { maybe: undefined });
  a.setLocalState('lease', 'held', { ttlMs: 30_000 });
  const v: Value | undefined = a.peerValue('127.0.0.1:9001', 'role');
  const untyped: unknown = a.peerValue('127.0.0.1:9001', 'anything');
  const heartbeat: number | undefined = a.peerValue('127.0.0.1:9001', '__heartbeat__');
  const keys: string[] = a.peerKeys('127.0.0.1:9001');
  const live: string[] = a.livePeers();
  const deleted: boolean = a.deleteLocalState('role');
  const stats: GossiperStats = a.stats();
  const phi: number = stats.peers[0].phi;
  const refused: number = stats.refused.wrongCluster;
  const name: string | undefined = a.peer_name;
  void [v, untyped, heartbeat, keys, live, deleted, phi, refused, name];
  await a.stop({ leave: true });
  await b.leave();
  await c.stop();
  await c.start({ signal: AbortSignal.timeout(5000) });
  await c.stop({ leave: true, signal: AbortSignal.timeout(1000) });
  await c[Symbol.asyncDispose]();
}
void main;

// A state typed once for the whole cluster: keys and their value types.
interface Role {
  kind: 'api' | 'worker';
  httpPort: number;
}
interface AppState {
  role: Role;
  load: number;
  tags?: string[];
  since: Date;
}
const t = new Gossiper<AppState>({ port: 9010 });
t.setLocalState('role', { kind: 'worker', httpPort: 8080 });
t.setLocalState('load', 0.25);
const role: Role | undefined = t.peerValue('10.0.0.1:9000', 'role');
const load: number | undefined = t.getLocalState('load');
const beat: number | undefined = t.peerValue('10.0.0.1:9000', '__heartbeat__');
t.on('update', (peer, key, value) => {
  // the key narrows the value
  if (key === 'load') {
    const n: number = value;
    void n;
  } else if (key === 'role') {
    const port: number = value.httpPort;
    void port;
  }
  void peer;
});
t.on('delete', (peer, key: keyof AppState) => void [peer, key]);
void [role, load, beat];

async function iterate(signal: AbortSignal): Promise<void> {
  for await (const [peer, key, value] of on(a, 'update', { signal })) void [peer, key, value];
}
void iterate;

// Prometheus metrics on the app's own registry.
const registry = new Registry();
const metricNames: MetricName[] = register(registry);
const firstMetric: string = METRIC_NAMES[0];
unregister(registry);
void [metricNames, firstMetric];

// @ts-expect-error the port is required
new Gossiper({ seeds: [] });
// @ts-expect-error ports are numbers
new Gossiper('9000');
// @ts-expect-error unknown detector model
new Gossiper({ port: 1, detector: 'gaussian' });
// @ts-expect-error unknown option
new Gossiper({ port: 1, fanoutt: 2 });
// @ts-expect-error update listeners take (peer, key, value) strings first
a.on('update', (peer: number) => peer);
// @ts-expect-error peer_failed passes a peer name, not a number
a.on('peer_failed', (peer: number) => peer);
// @ts-expect-error keys are strings
a.setLocalState(42, 'x');
// @ts-expect-error a time to live is a number of milliseconds
a.setLocalState('lease', 'held', { ttlMs: '30s' });
// @ts-expect-error setLocalState knows one option
a.setLocalState('lease', 'held', { ttl: 30_000 });
// @ts-expect-error start's callback receives an optional Error
a.start((err: string) => err);
// @ts-expect-error stop takes an options object
a.stop(true);
// @ts-expect-error functions are not values msgpack carries
a.setLocalState('f', () => 1);
// @ts-expect-error undefined is refused: deleteLocalState(key) removes a key
a.setLocalState('u', undefined);
// @ts-expect-error a Map is refused (a plain object is carried)
a.setLocalState('m', new Map([['a', 1]]));
// @ts-expect-error a Set is refused (an array is carried)
a.setLocalState('s', new Set([1]));
// @ts-expect-error symbols are refused
a.setLocalState('y', Symbol('y'));
// @ts-expect-error nested functions are refused too
a.setLocalState('nested', { run: () => 1 });
// @ts-expect-error peer_name is read-only
a.peer_name = '10.0.0.1:9000';
// @ts-expect-error a misspelt event name
a.on('peer_faild', (peer) => peer);
// @ts-expect-error once is typed like on: a misspelt event name
a.once('updat', (peer) => peer);
// @ts-expect-error once is typed like on: the listener's types
a.once('new_peer', (peer: number) => peer);
// @ts-expect-error off is typed like on
a.off('delete', (peer: string, key: number) => [peer, key]);
// @ts-expect-error prependListener is typed like on
a.prependListener('peer_alive', (peer: boolean) => peer);
// @ts-expect-error emit checks the arguments too
a.emit('update', '10.0.0.1:9000');
// @ts-expect-error start's signal is an AbortSignal
a.start({ signal: 'soon' });
// @ts-expect-error start takes a signal, not stop's leave
a.start({ leave: true });
// @ts-expect-error stop's signal is an AbortSignal
a.stop({ signal: true });
// @ts-expect-error metrics go on a registry the app passes in
register();
// @ts-expect-error a registry, not a metric name
register('gossiper_peers');
// @ts-expect-error a typed state's value types are checked
t.setLocalState('load', 'high');
// @ts-expect-error a typed state's keys are checked
t.setLocalState('lod', 1);
// @ts-expect-error a typed state's keys are checked on reads too
t.peerValue('10.0.0.1:9000', 'lod');
// @ts-expect-error a narrowed update value has its key's type
t.on('update', (peer, key, value) => key === 'load' && value.toUpperCase());
// @ts-expect-error a state type holding a function is refused
new Gossiper<{ run: () => void }>({ port: 1 });
// @ts-expect-error a state type holding a Map is refused
new Gossiper<{ index: Map<string, number> }>({ port: 1 });
