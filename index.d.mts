// Types of the ES module entry (index.mjs): the declarations of index.d.ts,
// its CommonJS twin, re-exported as they are, and the default export, which
// is the CommonJS module itself. One set of declarations, two module formats.
export * from './index.js';
import * as cjs from './index.js';
export default cjs;
