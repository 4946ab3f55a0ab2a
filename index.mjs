// ES module entry: `import { Gossiper } from 'gossiper'`. The same class as
// require('gossiper') (one native addon, one runtime per process).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cjs = require('./index.js');

export const { Gossiper, OPTIONS, PROFILES } = cjs;
export default cjs;
