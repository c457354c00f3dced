// In-memory stand-in for the CloudFront Functions built-in module `cloudfront` (runtime 2.0).
//
// It covers only what src/ecommerce_constructs/edge/router.js uses:
//   cf.kvs()                            -> a handle with async get(key, {format}) / exists(key) / meta()
//   cf.selectRequestOriginById(id)      -> records {kind: 'single', id}
//   cf.createRequestOriginGroup(params) -> records {kind: 'group', ids, statusCodes}; checks the shape
//                                          of the AWS doc example (originIds: two {originId} objects
//                                          with distinct ids; the prose's plain strings are refused)
// Both origin calls reject ids the distribution lacks (setKnownOrigins), and the group call can be made
// to throw (failOriginGroups) for the case where CloudFront refuses groups on this behaviour: the docs
// do not say, so the router must cope either way.
// Like the real runtime, get() rejects for a missing key, and kvs() throws when no KeyValueStore is
// associated with the function. Tests drive the shim with the named exports below and call reset()
// before each test. (The module is a singleton: router copies import it by the same file URL.)

const state = {
  entries: new Map(),
  handleError: null, // Error thrown by cf.kvs(), or null
  readFailure: null, // { ops: Set<'get'|'exists'>, keys: Set<string> | null }, or null
  knownOrigins: null, // Set of origin ids the origin calls accept; null accepts any
  groupError: null, // Error thrown by cf.createRequestOriginGroup, or null
  decisions: [], // origin calls that succeeded, in call order (see decisions())
  groupAttempts: 0, // calls of cf.createRequestOriginGroup, including those that threw
  reads: [], // KVS reads, e.g. 'exists drained:us-east-1', in call order
};

/** Forget all entries, failures and recorded calls. */
export function reset() {
  state.entries = new Map();
  state.handleError = null;
  state.readFailure = null;
  state.knownOrigins = null;
  state.groupError = null;
  state.decisions = [];
  state.groupAttempts = 0;
  state.reads = [];
}

/** Replace the store's contents, e.g. setEntries({ 'drained:us-east-1': 'true' }). */
export function setEntries(entries) {
  state.entries = new Map(Object.entries(entries));
}

/** Make cf.kvs() throw, as it does when no KeyValueStore is associated with the function. */
export function failKvsHandle(message = 'No KeyValueStore is associated with this function') {
  state.handleError = new Error(message);
}

/** Make KVS reads reject: only the given ops ('get', 'exists') and keys, or all when omitted. */
export function failKvsReads({ ops = ['get', 'exists'], keys = null } = {}) {
  state.readFailure = { ops: new Set(ops), keys: keys ? new Set(keys) : null };
}

/** Restrict both origin calls to these origin ids (anything else throws, like a bad id). */
export function setKnownOrigins(ids) {
  state.knownOrigins = new Set(ids);
}

/** Make cf.createRequestOriginGroup throw (a behaviour or runtime that refuses per-request groups). */
export function failOriginGroups(message = 'Origin groups are not supported for this cache behavior') {
  state.groupError = new Error(message);
}

/**
 * Successful origin calls, in call order: {kind: 'single', id} for selectRequestOriginById and
 * {kind: 'group', ids: [primary, failover], statusCodes} for createRequestOriginGroup.
 */
export function decisions() {
  return state.decisions.map((d) => ({ ...d }));
}

/** Ids passed to successful selectRequestOriginById calls, in call order. */
export function selectedOrigins() {
  return state.decisions.filter((d) => d.kind === 'single').map((d) => d.id);
}

/** How often cf.createRequestOriginGroup was called, including calls that threw. */
export function groupAttempts() {
  return state.groupAttempts;
}

/** KVS reads so far, as '<op> <key>' strings, in call order. */
export function kvsReads() {
  return [...state.reads];
}

function checkRead(op, key) {
  state.reads.push(`${op} ${key}`);
  const f = state.readFailure;
  if (f && f.ops.has(op) && (f.keys === null || f.keys.has(key))) {
    throw new Error(`KVS ${op} failed for ${key} (simulated)`);
  }
}

function handle() {
  return {
    async exists(key) {
      checkRead('exists', key);
      return state.entries.has(key);
    },
    async get(key, options = {}) {
      checkRead('get', key);
      if (!state.entries.has(key)) throw new Error(`Key ${key} not found`);
      const value = state.entries.get(key);
      const format = options.format || 'string';
      if (format === 'string') return value;
      if (format === 'json') return JSON.parse(value);
      if (format === 'bytes') return new TextEncoder().encode(value);
      throw new Error(`Unknown format ${format}`);
    },
    async meta() {
      return {
        creationDateTime: '2026-01-01T00:00:00Z',
        lastUpdatedDateTime: '2026-01-01T00:00:00Z',
        keyCount: state.entries.size,
      };
    },
  };
}

function checkOriginId(originId) {
  if (typeof originId !== 'string' || originId === '') {
    throw new TypeError(`origin id must be a non-empty string, got ${JSON.stringify(originId)}`);
  }
  if (state.knownOrigins && !state.knownOrigins.has(originId)) {
    throw new Error(`Origin ${originId} is not defined in this distribution`);
  }
}

// Status codes CloudFront accepts as failover criteria.
const FAILOVER_CODES = new Set([400, 403, 404, 416, 429, 500, 502, 503, 504]);

const cf = {
  kvs() {
    if (state.handleError) throw state.handleError;
    return handle();
  },
  selectRequestOriginById(originId) {
    checkOriginId(originId);
    state.decisions.push({ kind: 'single', id: originId });
  },
  createRequestOriginGroup(params) {
    state.groupAttempts += 1;
    if (state.groupError) throw state.groupError;
    const given = params && params.originIds;
    const ids = Array.isArray(given) ? given.map((o) => (o && typeof o === 'object' ? o.originId : undefined)) : [];
    if (ids.length !== 2 || ids.some((id) => typeof id !== 'string') || ids[0] === ids[1]) {
      throw new TypeError(`originIds must be two {originId} objects with distinct ids, got ${JSON.stringify(given)}`);
    }
    ids.forEach(checkOriginId);
    const codes = params.failoverCriteria && params.failoverCriteria.statusCodes;
    if (!Array.isArray(codes) || codes.length === 0 || !codes.every((c) => FAILOVER_CODES.has(c))) {
      throw new TypeError(`failoverCriteria.statusCodes is invalid: ${JSON.stringify(codes)}`);
    }
    state.decisions.push({ kind: 'group', ids: [...ids], statusCodes: [...codes] });
  },
  updateRequestOrigin() {
    throw new Error('updateRequestOrigin is not expected to be used by the router');
  },
};

export default cf;
