// Compiled with `tsc --strict --noEmit` by __test__/types.test.js: what a TypeScript user
// writes must type-check, and each misuse marked with an expect-error comment must not.


import { Gossiper, GossiperOptions, GossiperStats, PeerName } from '../../index';

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
a.on('delete', (peer, key) => peer.length + key.length);

async function main(): Promise<void> {
  await a.start();
  b.start((err?: Error) => {
    if (err) throw err;
  });
  a.setLocalState('role', { kind: 'api', port: 8080 });
  const v: unknown = a.peerValue('127.0.0.1:9001', 'role');
  void v;
  const keys: string[] = a.peerKeys('127.0.0.1:9001');
  const live: string[] = a.livePeers();
  const deleted: boolean = a.deleteLocalState('role');
  const stats: GossiperStats = a.stats();
  const phi: number = stats.peers[0].phi;
  const refused: number = stats.refused.wrongCluster;
  const name: string | undefined = a.peer_name;
  void [keys, live, deleted, phi, refused, name];
  await a.stop({ leave: true });
  await b.leave();
  await c.stop();
}
void main;

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
// @ts-expect-error start's callback receives an optional Error
a.start((err: string) => err);
// @ts-expect-error stop takes an options object
a.stop(true);
