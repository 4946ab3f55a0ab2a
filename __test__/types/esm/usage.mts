// Compiled by __test__/package.test.js with module/moduleResolution node16:
// an ES module that imports the package by its name gets the import
// condition's types (index.d.mts), named and default alike.
import { Gossiper, OPTIONS, type GossiperOptions, type PeerName } from 'gossiper';
import gossiper from 'gossiper';

const options: GossiperOptions = { port: 0, address: '127.0.0.1' };
const g: Gossiper = new gossiper.Gossiper(options);
const same: typeof Gossiper = gossiper.Gossiper;
g.on('peer_failed', (peer: PeerName) => peer.length);
const names: string[] = Object.keys(OPTIONS);
void same;
void names;

// @ts-expect-error: the port is a number
new Gossiper({ port: '9000' });
