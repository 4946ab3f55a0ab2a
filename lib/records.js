'use strict';
// The kinds of record in a native signal batch and their lengths, as the
// addon defines them (src/binding/records.rs): one definition on each side
// of the boundary would drift.
const native = require('../native');

const RECORD = Object.freeze({ ...native.Record });
const RECORD_LENGTH = Object.freeze(native.recordLengths());

module.exports = { RECORD, RECORD_LENGTH };
