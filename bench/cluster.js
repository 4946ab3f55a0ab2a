#!/usr/bin/env node
'use strict';
// `npm run bench:cluster`: the cluster benchmark, same as `npm run bench`
// (bench/run.js: the parent that runs bench/cluster-worker.js once per
// implementation and size and prints the Markdown report). Options: see run.js.
require('./run.js');
