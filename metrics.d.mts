// Types of the ES module entry of gossiper/metrics (metrics.mjs): the
// declarations of metrics.d.ts re-exported, and the CommonJS module itself as
// the default export.
export * from './metrics.js';
import * as cjs from './metrics.js';
export default cjs;
