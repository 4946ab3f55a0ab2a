// ES module entry of gossiper/metrics: the same functions as
// require('gossiper/metrics') (one set of metrics per registry).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cjs = require('./metrics.js');

export const { register, unregister, METRIC_NAMES } = cjs;
export default cjs;
