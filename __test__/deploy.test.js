'use strict';
// The deployment examples: examples/compose and examples/kubernetes are
// checked field by field (no Docker engine or cluster here), and the app
// they both run, examples/app/app.js, runs as 3 local processes configured
// as the compose file configures its services: they form a cluster, and
// SIGTERM makes one leave so that the others see it gone at once.
//
// Ports: 29000-29499.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const YAML = require('yaml');

const { waitFor, PortRange, JsonLinesChild } = require('./support/util');

const ports = new PortRange(29000, 29499);
const examples = path.join(__dirname, '..', 'examples');
const read = (...p) => fs.readFileSync(path.join(examples, ...p), 'utf8');

function parseDocs(text, file) {
  const docs = YAML.parseAllDocuments(text);
  for (const d of docs) assert.deepEqual(d.errors, [], `${file} parses`);
  return docs.map((d) => d.toJS());
}

const seconds = (s) => {
  const m = /^(\d+)(s|m)$/.exec(String(s));
  assert.ok(m, `a duration: ${s}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};

const dockerCmd = () => JSON.parse(/^CMD (\[.*\])$/m.exec(read('app', 'Dockerfile'))[1]);

test('examples/compose: 3 members of the app, SIGTERM with a grace period, seeds that name services', () => {
  const [compose] = parseDocs(read('compose', 'compose.yaml'), 'compose.yaml');
  const services = compose.services;
  assert.equal(Object.keys(services).length, 3);
  const images = new Set();
  for (const [name, s] of Object.entries(services)) {
    const context = path.join(examples, 'compose', s.build);
    assert.ok(fs.existsSync(path.join(context, 'Dockerfile')), `${name} builds examples/app`);
    assert.ok(fs.existsSync(path.join(context, 'app.js')));
    images.add(s.image);
    assert.deepEqual(s.command, ['node', 'app.js']);
    assert.deepEqual(s.command, dockerCmd(), 'the image runs the same command');
    assert.equal(s.stop_signal, 'SIGTERM');
    assert.ok(seconds(s.stop_grace_period) >= 5, 'time to leave before SIGKILL');
    assert.equal(s.init, true, 'signals reach node, which is not PID 1');
    const env = s.environment;
    for (const key of Object.keys(env)) assert.match(key, /^(GOSSIP_(PORT|SEEDS|CLUSTER|ADDRESS|INTERVAL_MS)|HTTP_PORT)$/, `${key} is read by the app`);
    for (const seed of env.GOSSIP_SEEDS.split(',')) {
      const [host, port] = seed.split(':');
      assert.ok(services[host], `seed ${seed} names a service`);
      assert.equal(port, services[host].environment.GOSSIP_PORT, `seed ${seed} has that service's gossip port`);
      if (host !== name) {
        assert.equal(s.depends_on[host].condition, 'service_healthy', `${name} starts once its seed ${host} answers`);
      }
    }
    assert.equal(s.hostname, name);
    assert.equal(env.GOSSIP_CLUSTER, services.node1.environment.GOSSIP_CLUSTER, 'one cluster name');
  }
  assert.equal(images.size, 1, 'one image');
  assert.ok(services.node1.healthcheck.test.join(' ').includes(`:${services.node1.environment.HTTP_PORT}/healthz`));
});

test('examples/kubernetes: a headless Service publishing not-ready addresses, and its StatefulSet', () => {
  const docs = parseDocs(read('kubernetes', 'gossip.yaml'), 'gossip.yaml');
  const service = docs.find((d) => d.kind === 'Service');
  const sts = docs.find((d) => d.kind === 'StatefulSet');
  assert.ok(service && sts);
  assert.equal(service.apiVersion, 'v1');
  assert.equal(sts.apiVersion, 'apps/v1');
  assert.equal(service.spec.clusterIP, 'None', 'headless: one DNS name per pod');
  assert.equal(service.spec.publishNotReadyAddresses, true);
  assert.equal(sts.spec.serviceName, service.metadata.name);
  assert.equal(sts.spec.replicas, 3);
  const labels = sts.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(sts.spec.selector.matchLabels)) assert.equal(labels[k], v, 'the selector matches the pods');
  for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v, 'the Service selects the pods');
  const pod = sts.spec.template.spec;
  assert.ok(pod.terminationGracePeriodSeconds >= 5, 'time to leave before SIGKILL');
  assert.equal(pod.containers.length, 1);
  const [c] = pod.containers;
  assert.deepEqual(c.command, dockerCmd());
  const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
  const port = (name) => c.ports.find((p) => p.name === name).containerPort;
  assert.equal(String(port('gossip')), env.GOSSIP_PORT.value);
  assert.equal(String(port('http')), env.HTTP_PORT.value);
  const target = service.spec.ports[0];
  assert.equal(target.targetPort, 'gossip');
  assert.equal(target.port, port('gossip'));
  assert.equal(env.GOSSIP_ADDRESS.valueFrom.fieldRef.fieldPath, 'status.podIP');
  for (const seed of env.GOSSIP_SEEDS.value.split(',')) {
    const m = /^([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):(\d+)$/.exec(seed);
    assert.ok(m, `seed ${seed} is a pod's stable name`);
    assert.equal(m[1], sts.metadata.name);
    assert.ok(Number(m[2]) < sts.spec.replicas);
    assert.equal(m[3], service.metadata.name);
    assert.equal(Number(m[4]), port('gossip'));
  }
  for (const probe of [c.readinessProbe, c.livenessProbe]) {
    assert.equal(probe.httpGet.path, '/healthz');
    assert.equal(probe.httpGet.port, 'http');
  }
});

function getJson(port, urlPath) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
    }).on('error', reject);
  });
}

test('the app as 3 local processes, configured as compose does: a cluster, and SIGTERM leaves', { timeout: 90000 }, async (t) => {
  // the app requires 'gossiper' as an installed app would: give it this package
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gossiper-app-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.join(__dirname, '..'), path.join(dir, 'node_modules', 'gossiper'), 'dir');
  fs.copyFileSync(path.join(examples, 'app', 'app.js'), path.join(dir, 'app.js'));
  const children = [];
  t.after(() => {
    for (const c of children) if (!c.exited) c.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const [compose] = parseDocs(read('compose', 'compose.yaml'), 'compose.yaml');
  const names = Object.keys(compose.services);
  const local = {};
  for (const name of names) local[name] = { gossip: await ports.take(), http: await ports.take() };
  // each service's environment, with its host names and ports made local
  const envOf = (name) => {
    const env = { ...compose.services[name].environment };
    env.GOSSIP_SEEDS = env.GOSSIP_SEEDS.split(',').map((s) => `127.0.0.1:${local[s.split(':')[0]].gossip}`).join(',');
    return { ...process.env, ...env, GOSSIP_ADDRESS: '127.0.0.1', GOSSIP_PORT: String(local[name].gossip),
      HTTP_PORT: String(local[name].http), GOSSIP_INTERVAL_MS: '200' };
  };
  const peerOf = (name) => `127.0.0.1:${local[name].gossip}`;
  const members = {};
  for (const name of names) {
    members[name] = new JsonLinesChild(path.join(dir, 'app.js'), [], { env: envOf(name) });
    children.push(members[name]);
    await members[name].waitLine((l) => l.event === 'started', 15000);
    // as depends_on: service_healthy has compose wait for node1
    await waitFor(async () => (await getJson(local[name].http, '/healthz').catch(() => ({}))).status === 200, 10000,
      { message: `${name} healthy` });
  }
  for (const name of names) {
    for (const other of names.filter((n) => n !== name)) {
      await members[name].waitLine((l) => l.event === 'new_peer' && l.peer === peerOf(other), 15000);
    }
  }
  await waitFor(async () => {
    for (const name of names) {
      const { body } = await getJson(local[name].http, '/members');
      if (body.peers.length !== 3 || !body.peers.every((p) => p.status === 'alive' && p.host === os.hostname())) return false;
    }
    return true;
  }, 15000, { message: 'every member to list the 3, alive, with their host key' });

  const [stay1, leaving, stay2] = names;
  const sent = Date.now();
  const left = members[leaving].kill('SIGTERM');
  for (const name of [stay1, stay2]) {
    const line = await members[name].waitLine((l) => l.event === 'peer_left' && l.peer === peerOf(leaving), 5000);
    // a leave arrives in milliseconds, as 'peer_left'; the failure detector
    // alone would take several rounds, and say 'peer_failed'
    assert.ok(line.at - sent < 500, `${name} saw it go after ${line.at - sent} ms`);
    const { body } = await getJson(local[name].http, '/members');
    assert.equal(body.peers.find((p) => p.name === peerOf(leaving)).status, 'left');
  }
  assert.deepEqual(await left, { code: 0, signal: null });
  assert.ok(members[leaving].lines.some((l) => l.event === 'leaving' && l.signal === 'SIGTERM'));
  assert.ok(members[leaving].lines.some((l) => l.event === 'left'));
  const exits = [stay1, stay2].map((name) => members[name].kill('SIGTERM'));
  for (const exit of exits) assert.deepEqual(await exit, { code: 0, signal: null });
});
