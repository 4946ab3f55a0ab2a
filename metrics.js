'use strict';
// `require('gossiper/metrics').register(registry)`: Prometheus metrics of
// every running Gossiper of the process, on the prom-client Registry the app
// passes in (never the global one). prom-client is an optional peer
// dependency: it is loaded at the first register(), from the app.
const { METRICS, create } = require('./lib/metrics');
const { typeError, stateError } = require('./lib/errors');

const registered = new WeakMap(); // registry → its metrics

function checkRegistry(registry, call) {
  if (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function'
    || typeof registry.removeSingleMetric !== 'function') {
    throw typeError(`${call} takes a prom-client Registry (new Registry()), got ${registry === null ? 'null' : typeof registry}`);
  }
}

function promClient() {
  try {
    return require('prom-client');
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    throw stateError('gossiper/metrics needs prom-client: npm install prom-client', 'ERR_GOSSIPER_PROM_CLIENT_MISSING');
  }
}

/**
 * Registers the `gossiper_*` metrics on `registry`; returns their names.
 * Registering on the same registry again does nothing.
 */
function register(registry) {
  checkRegistry(registry, 'register(registry)');
  if (!registered.has(registry)) registered.set(registry, create(promClient(), registry));
  return Object.keys(METRICS);
}

/** Removes the `gossiper_*` metrics from `registry`. */
function unregister(registry) {
  checkRegistry(registry, 'unregister(registry)');
  if (!registered.has(registry)) return;
  for (const name of Object.keys(METRICS)) registry.removeSingleMetric(name);
  registered.delete(registry);
}

module.exports = { register, unregister, METRIC_NAMES: Object.freeze(Object.keys(METRICS)) };
