'use strict';
// Values between two gossipers over real sockets: every JavaScript value that
// has a msgpack form arrives at the peer with its type (deepStrictEqual),
// and the few that change type change in the documented way:
//
//   sent                                   arrives as
//   Uint8Array, other TypedArrays,         Buffer of the same bytes (a TypedArray's
//   ArrayBuffer, DataView                  raw memory, in platform byte order)
//   BigInt within ±(2^53-1)                number (msgpack has one integer type)
//   BigInt beyond 2^53-1, within 64 bits   BigInt (int64 / uint64)
//   integers beyond 2^53-1 (as numbers)    numbers (sent as float64)
//   undefined inside arrays / objects,     null
//   holes of sparse arrays
//   class instances, other objects         plain objects of their own enumerable
//                                          string-keyed properties
//   strings with lone surrogates           U+FFFD in their place (UTF-8)
//
// Refused with TypeError at setLocalState: functions, symbols, Map, Set,
// BigInt wider than 64 bits, invalid Dates, cycles and nesting deeper than
// maxValueDepth. The local side keeps the very value given:
// getLocalState(key) returns the same reference.
//
// Ports: 22500-22999.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { isDeepStrictEqual } = require('node:util');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll } = require('./support/util');

const ports = new PortRange(22500, 22999);
const DEPTH = 64; // maxValueDepth of the pair below

function nested(depth, leaf, wrap) {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = wrap(v);
  return v;
}

function randomBytes(n, seed = 1) {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const pool = Buffer.from('a pooled Buffer shares a slab: it has a byteOffset');
const backing = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1]);

// [name, value]: arrives deepStrictEqual to what was sent
const SAME = [
  ['ascii string', 'hello, gossip'],
  ['unicode string', 'héllo wörld ✓ 日本語 🎉 \u0000 nul'],
  ['empty string', ''],
  ['31-byte string (largest fixstr)', 'y'.repeat(31)],
  ['40-byte string (str8)', 's'.repeat(40)],
  ['300-byte string (str16)', 'é'.repeat(150)],
  ['70 000-byte string (str32)', 'abcdefghij'.repeat(7000)],
  ['0', 0],
  ['-1', -1],
  ['127', 127],
  ['128', 128],
  ['255', 255],
  ['256', 256],
  ['65535', 65535],
  ['65536', 65536],
  ['2^31', 2 ** 31],
  ['2^32-1', 2 ** 32 - 1],
  ['2^32', 2 ** 32],
  ['-32', -32],
  ['-33', -33],
  ['-128', -128],
  ['-129', -129],
  ['-32769', -32769],
  ['-2^31-1', -(2 ** 31) - 1],
  ['2^53-1', Number.MAX_SAFE_INTEGER],
  ['-(2^53-1)', Number.MIN_SAFE_INTEGER],
  ['2^53 (a float64 now)', 2 ** 53],
  ['2^64 (a float64)', 2 ** 64],
  ['0.5', 0.5],
  ['-0.1', -0.1],
  ['-0', -0],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['1e300', 1e300],
  ['5e-324 (smallest subnormal)', 5e-324],
  ['Number.MAX_VALUE', Number.MAX_VALUE],
  ['true', true],
  ['false', false],
  ['null', null],
  ['empty array', []],
  ['array of everything', [1, 'two', null, true, 2.5, [], {}, [3, [4, [5]]]]],
  ['array of 1000 strings', Array.from({ length: 1000 }, (_, i) => `item ${i}`)],
  ['empty object', {}],
  ['nested object', { a: 1, b: { c: [1, 2, { d: 'e' }], f: null }, 'with space': true, '': 'empty key', 10: 'numeric key' }],
  ['object with unicode keys', { 'ключ': 'значение', '🔑': 1 }],
  ['Buffer', Buffer.from([0, 1, 2, 127, 128, 255])],
  ['empty Buffer', Buffer.alloc(0)],
  ['pooled Buffer (byteOffset != 0)', pool],
  ['Buffer slice', Buffer.from([10, 20, 30, 40, 50]).subarray(1, 4)],
  ['70 000-byte Buffer', randomBytes(70000)],
  ['Date', new Date(1700000000123)],
  ['Date 0', new Date(0)],
  ['Date before 1970', new Date(-1)],
  ['Date far before 1970', new Date(-8.64e15)],
  ['Date after 2106 (64-bit seconds)', new Date(8.64e15)],
  ['Date inside an object', { when: new Date(2 ** 40) }],
  ['BigInt 2^53 (a BigInt: beyond safe numbers)', 2n ** 53n],
  ['BigInt -(2^53)', -(2n ** 53n)],
  ['BigInt 2^63 (uint64)', 2n ** 63n],
  ['BigInt 2^64-1 (largest uint64)', 2n ** 64n - 1n],
  ['BigInt -(2^63) (smallest int64)', -(2n ** 63n)],
  [`arrays nested ${DEPTH} deep (maxValueDepth)`, nested(DEPTH, 'leaf', (v) => [v])],
  [`objects nested ${DEPTH} deep (maxValueDepth)`, nested(DEPTH, 0, (v) => ({ v }))],
];

class Point {
  constructor() {
    this.x = 1;
    this.y = 2;
  }

  get sum() { return this.x + this.y; }
}

// [name, value, expected]: the documented conversions
const CONVERTED = [
  ['Uint8Array → Buffer', new Uint8Array([1, 2, 3]), Buffer.from([1, 2, 3])],
  ['Uint8Array view with an offset → Buffer of the view', new Uint8Array(backing.buffer, 2, 3), Buffer.from([7, 6, 5])],
  ['empty Uint8Array → empty Buffer', new Uint8Array(0), Buffer.alloc(0)],
  ['Uint16Array → Buffer of its bytes', new Uint16Array([0x0102, 0x0304]), Buffer.from(new Uint16Array([0x0102, 0x0304]).buffer)],
  ['Float64Array → Buffer of its bytes', new Float64Array([1.5]), Buffer.from(new Float64Array([1.5]).buffer)],
  ['ArrayBuffer → Buffer', new Uint8Array([4, 5]).buffer, Buffer.from([4, 5])],
  ['DataView with an offset → Buffer of the view', new DataView(backing.buffer, 5, 2), Buffer.from([4, 3])],
  ['small BigInt → number', 5n, 5],
  ['negative small BigInt → number', -5n, -5],
  ['0n → 0', 0n, 0],
  ['BigInt 2^53-1 → number', 2n ** 53n - 1n, Number.MAX_SAFE_INTEGER],
  ['BigInt -(2^53-1) → number', -(2n ** 53n - 1n), Number.MIN_SAFE_INTEGER],
  ['undefined in an object → null', { a: undefined, b: 1 }, { a: null, b: 1 }],
  ['undefined in an array → null', [undefined, 1], [null, 1]],
  // eslint-disable-next-line no-sparse-arrays
  ['hole of a sparse array → null', [1, , 3], [1, null, 3]],
  ['class instance → plain object of own enumerable properties', new Point(), { x: 1, y: 2 }],
  ['symbol keys and non-enumerable properties are left out',
    Object.defineProperty({ a: 1, [Symbol('s')]: 2 }, 'hidden', { value: 3, enumerable: false }), { a: 1 }],
  ['null-prototype object → plain object', Object.assign(Object.create(null), { a: 1 }), { a: 1 }],
  ['lone surrogate → U+FFFD', 'a\uD800b', 'a\uFFFDb'],
];

// keys that are not ordinary identifiers, with their values
const SPECIAL_KEYS = [
  ['', 'the empty key'],
  ['__proto__', 'proto key'],
  ['constructor', 'constructor key'],
  ['hasOwnProperty', 'shadowing key'],
  ['ключ 🔑', 'unicode key'],
  ['k'.repeat(1024), 'a key of maxKeyBytes (1024)'],
];

describe('values between two gossipers', () => {
  let a;
  let b;
  const events = new Map(); // key → [value, ...] from b's update events
  const key = (name) => `v:${name}`;

  before(async () => {
    const opts = {
      address: '127.0.0.1',
      gossipIntervalMs: 50,
      maxValueBytes: 128 * 1024,
      maxOutgoingMessageBytes: 256 * 1024,
      maxValueDepth: DEPTH,
    };
    const pa = await ports.take();
    a = new Gossiper({ ...opts, port: pa });
    b = new Gossiper({ ...opts, port: await ports.take(), seeds: [`127.0.0.1:${pa}`] });
    b.on('update', (peer, k, value) => {
      if (peer !== a.peer_name) return;
      if (!events.has(k)) events.set(k, []);
      events.get(k).push(value);
    });
    await a.start();
    await b.start();
    for (const [name, value] of [...SAME, ...CONVERTED]) a.setLocalState(key(name), value);
    a.setLocalState('proto', JSON.parse('{"__proto__": {"polluted": true}, "x": 1}'));
    for (const [k, v] of SPECIAL_KEYS) a.setLocalState(k, v);
    a.setLocalState('done', true); // the last write: everything before it has arrived with it
    await waitFor(() => b.peerValue(a.peer_name, 'done') === true, 20000, { message: 'all values to arrive' });
  });

  after(() => stopAll(a, b));

  for (const [name, value] of SAME) {
    test(`${name} round-trips with its type`, () => {
      assert.deepStrictEqual(b.peerValue(a.peer_name, key(name)), value);
      assert.deepStrictEqual(events.get(key(name)), [value], 'one update event with the value');
      assert.equal(a.getLocalState(key(name)), value, 'the local side keeps the very value');
    });
  }

  for (const [name, value, expected] of CONVERTED) {
    test(name, () => {
      assert.deepStrictEqual(b.peerValue(a.peer_name, key(name)), expected);
      assert.deepStrictEqual(events.get(key(name)), [expected]);
      assert.equal(a.getLocalState(key(name)), value);
    });
  }

  test('Buffers arrive as Buffers (not plain Uint8Arrays) and Dates as Dates', () => {
    assert.ok(Buffer.isBuffer(b.peerValue(a.peer_name, key('Buffer'))));
    assert.ok(Buffer.isBuffer(b.peerValue(a.peer_name, key('Uint8Array → Buffer'))));
    const d = b.peerValue(a.peer_name, key('Date'));
    assert.ok(d instanceof Date);
    assert.equal(d.getTime(), 1700000000123);
    assert.equal(typeof b.peerValue(a.peer_name, key('BigInt 2^63 (uint64)')), 'bigint');
    assert.equal(typeof b.peerValue(a.peer_name, key('small BigInt → number')), 'number');
    assert.ok(Object.is(b.peerValue(a.peer_name, key('-0')), -0));
  });

  test('__proto__ as an own key stays an own key and does not change the prototype', () => {
    const v = b.peerValue(a.peer_name, 'proto');
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
    assert.deepEqual(Object.keys(v), ['__proto__', 'x']);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(v, '__proto__').value, { polluted: true });
    assert.equal(v.polluted, undefined, 'not inherited');
    assert.equal({}.polluted, undefined, 'Object.prototype untouched');
    assert.deepStrictEqual(v, JSON.parse('{"__proto__": {"polluted": true}, "x": 1}'));
  });

  test('keys: empty, __proto__, constructor, unicode, maxKeyBytes long', () => {
    for (const [k, v] of SPECIAL_KEYS) {
      assert.equal(b.peerValue(a.peer_name, k), v, `key ${JSON.stringify(k.slice(0, 20))}`);
      assert.ok(b.peerKeys(a.peer_name).includes(k));
      assert.equal(a.getLocalState(k), v);
    }
    assert.throws(() => a.setLocalState('k'.repeat(1025), 1), RangeError);
    assert.throws(() => a.setLocalState('é'.repeat(513), 1), RangeError, 'maxKeyBytes counts UTF-8 bytes');
  });

  test('a value changing type at the peer', async () => {
    const seen = [];
    const onUpdate = (peer, k, v) => { if (k === 'morph') seen.push(v); };
    b.on('update', onUpdate);
    try {
      for (const v of [1, 'one', [1], { one: 1 }, null, Buffer.from('1'), 1n << 60n]) {
        a.setLocalState('morph', v);
        await waitFor(() => seen.length > 0 && isDeepStrictEqual(seen.at(-1), v), 10000,
          { message: () => `morph → ${String(v)}, seen ${seen.length}` });
        assert.deepStrictEqual(b.peerValue(a.peer_name, 'morph'), v);
      }
    } finally {
      b.removeListener('update', onUpdate);
    }
  });
});

describe('refused values (no network needed)', () => {
  const refused = (g, value, message) => assert.throws(() => g.setLocalState('k', value),
    { name: 'TypeError', code: 'ERR_GOSSIPER_INVALID_VALUE', message });

  test('a cyclic value is refused once, naming where it refers back', () => {
    const g = new Gossiper({ port: 0, maxValueDepth: DEPTH });
    g.setLocalState('k', 'kept');
    const self = { a: 1 };
    self.self = self;
    refused(g, self, 'value.self refers back to value (the value contains a cycle)');
    const list = [1];
    list.push(list);
    refused(g, list, 'value[1] refers back to value (the value contains a cycle)');
    // the cycle below the top, through an array and an object
    const inner = { list: [] };
    inner.list.push({ up: inner });
    refused(g, { data: inner }, 'value.data.list[0].up refers back to value.data (the value contains a cycle)');
    // the same object twice, side by side, is no cycle
    const shared = { x: 1 };
    g.setLocalState('shared', { a: shared, b: [shared, shared] });
    assert.equal(g.getLocalState('k'), 'kept');
  });

  test('nesting deeper than maxValueDepth without a cycle is refused as too deep', () => {
    const g = new Gossiper({ port: 0, maxValueDepth: 3 });
    refused(g, { a: { b: { c: { d: 1 } } } }, 'value.a.b.c nests deeper than 3 levels');
    // a fresh object at every level (a getter) never repeats: too deep, not a cycle
    const endless = { get next() { return { get next() { return endless.next; } }; } };
    refused(g, endless, 'value.next.next.next nests deeper than 3 levels');
  });
});

describe('nesting limits (no network needed)', () => {
  test(`maxValueDepth (${DEPTH}): ${DEPTH} levels are accepted, ${DEPTH + 1} refused with TypeError`, () => {
    const g = new Gossiper({ port: 0, maxValueDepth: DEPTH });
    g.setLocalState('deep', nested(DEPTH, 1, (v) => [v]));
    g.setLocalState('deep', nested(DEPTH, 1, (v) => ({ v })));
    assert.throws(() => g.setLocalState('deep', nested(DEPTH + 1, 1, (v) => [v])), { name: 'TypeError', message: /deeper/ });
    assert.throws(() => g.setLocalState('deep', nested(DEPTH + 1, 1, (v) => ({ v }))), { name: 'TypeError', message: /deeper/ });
    assert.deepStrictEqual(g.getLocalState('deep'), nested(DEPTH, 1, (v) => ({ v })));
  });

  test('the default maxValueDepth is 32', () => {
    const g = new Gossiper({ port: 0 });
    g.setLocalState('deep', nested(32, 1, (v) => [v]));
    assert.throws(() => g.setLocalState('deep', nested(33, 1, (v) => [v])), TypeError);
  });
});
