// The CloudFront distribution of `make dev`: an HTTP proxy on 127.0.0.1 that runs the SAME viewer-request
// function as the deployed edge (src/ecommerce_constructs/edge/router.js) and then does what CloudFront
// does with its decision: one origin, or an origin group that fails reads over to the second member.
//
// Plain Node 18+ (no npm packages). Usually started by ecommerce_dev/devserver/edge.py; by hand:
//   node server.mjs --port 8090 --kvs-file .local/edge/kvs.json \
//     --origins '{"us-east-1":"http://127.0.0.1:8080","us-east-2":"http://127.0.0.1:8081"}'
// Options (each also read from the environment variable in brackets):
//   --host [EDGE_HOST] 127.0.0.1      --port [EDGE_PORT] 8090
//   --origins [EDGE_ORIGINS]          JSON {region: "http://host:port"}; the origin id is the region
//   --regions [EDGE_REGIONS]          JSON [{"id","lat","lon"}] for the router's REGIONS; default: known
//                                     coordinates of us-east-1 / us-east-2, in --origins order
//   --primary [EDGE_PRIMARY]          the router's PRIMARY; default: the first origin
//   --kvs-file [EDGE_KVS_FILE]        drain state in CloudFront's KVS import format
//                                     {"data": [{"key": "drained:us-east-2", "value": "true"}]}; read on
//                                     every request, a missing file means nothing is drained
//   --router [EDGE_ROUTER]            router.js; default: ../../ecommerce_constructs/edge/router.js
//   --origin-timeout [EDGE_ORIGIN_TIMEOUT_MS] 30000  (CloudFront's default origin response timeout)
//   --watch-stdin                     exit when stdin closes (the launcher holds it: no orphans)
//
// How the function runs: the `import cf from 'cloudfront'` line is replaced by "use strict"; (same line
// count, so stack traces keep router.js line numbers) and the code runs in a node:vm context whose only
// globals besides the JavaScript built-ins are `cf` and `console`. That is simpler than an ESM loader
// hook (no hook registration, no temp files) and closer to CloudFront: no require, process, timers or
// fetch, and eval / new Function throw, so code that cannot work at the edge fails here too.
// Per-request state (the KVS snapshot, the origin decision) lives in an AsyncLocalStorage, because the
// handler awaits KVS reads and requests interleave.
//
// Per request: build the viewer-request event (lowercase headers with .value, querystring, cookies), run
// handler(event), then proxy. Writes stream to one origin. Reads with an origin group are buffered (up to
// 1 MiB) so they can be re-sent to the second member after a connection failure or a failover status.
// Responses stream back without hop-by-hop headers, plus x-edge-region (the region that answered) and,
// after a failover, x-edge-failover (what failed). One stdout line per request: time, method, path (no
// query string, it may carry secrets), route, status, milliseconds.
//
// Differences from CloudFront, on purpose: viewers may send CloudFront-Viewer-Latitude/-Longitude/-Country
// to simulate a location (CloudFront overwrites them); without any of the three the viewer is in
// Washington, DC (near us-east-1). No caching. Errors are application/problem+json, not CloudFront's HTML.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import vm from 'node:vm';

const READY_MARKER = 'edge listening on '; // the launcher waits for this line
const IMPORT_LINE = "import cf from 'cloudfront';";
// In the source tree and in the wheel alike, ecommerce_constructs sits next to ecommerce_dev.
const DEFAULT_ROUTER = new URL('../../ecommerce_constructs/edge/router.js', import.meta.url);
const KNOWN_COORDINATES = {
  'us-east-1': [38.9, -77.4], // N. Virginia
  'us-east-2': [40.0, -83.0], // Ohio
};
const DEFAULT_VIEWER = { latitude: '38.90', longitude: '-77.04', country: 'US' }; // Washington, DC
const GEO_HEADERS = ['cloudfront-viewer-latitude', 'cloudfront-viewer-longitude', 'cloudfront-viewer-country'];
// CloudFront fails over only these methods, whatever the function asked for.
const FAILOVER_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
// Hop-by-hop headers (RFC 9110 7.6.1) stay on their connection. `expect` is answered here already, and
// `host` becomes the origin's (like the AllViewerExceptHostHeader policy API Gateway origins need).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const NOT_TO_ORIGIN = new Set([...HOP_BY_HOP, 'host', 'expect']);
const MAX_REPLAY_BYTES = 1024 * 1024; // a failover read re-sends its body, so it is buffered

function fail(message) {
  process.stderr.write(`local edge: ${message}\n`);
  process.exit(2);
}

function clock() {
  return new Date().toTimeString().slice(0, 8);
}

function logLine(message) {
  process.stdout.write(`${clock()} edge ${message}\n`);
}

// ---------------------------------------------------------------------------------------------------
// Configuration

function configuration(argv, env) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        origins: { type: 'string' },
        regions: { type: 'string' },
        primary: { type: 'string' },
        'kvs-file': { type: 'string' },
        router: { type: 'string' },
        'origin-timeout': { type: 'string' },
        'watch-stdin': { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${e.message}; the options are listed at the top of server.mjs`);
  }
  const pick = (name, variable, fallback) => values[name] ?? env[variable] ?? fallback;
  const json = (name, variable, fallback) => {
    const text = pick(name, variable, undefined);
    if (text === undefined) return fallback;
    try {
      return JSON.parse(text);
    } catch (e) {
      return fail(`--${name} is not valid JSON (${e.message}): ${text}`);
    }
  };

  const port = Number(pick('port', 'EDGE_PORT', '8090'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0-65535, got ${port}`);
  const origins = json('origins', 'EDGE_ORIGINS', {
    'us-east-1': 'http://127.0.0.1:8080',
    'us-east-2': 'http://127.0.0.1:8081',
  });
  if (!origins || typeof origins !== 'object' || Array.isArray(origins) || !Object.keys(origins).length) {
    fail('--origins must be a JSON object {"<region>": "http://host:port", ...}');
  }
  const originUrls = {};
  for (const [region, url] of Object.entries(origins)) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      fail(`origin ${region}: ${JSON.stringify(url)} is not a URL; give http://host:port`);
    }
    if (parsed.protocol !== 'http:') fail(`origin ${region}: only http:// origins are supported, got ${url}`);
    originUrls[region] = parsed;
  }
  const regions = json(
    'regions',
    'EDGE_REGIONS',
    Object.keys(originUrls).map((id) => {
      const point = KNOWN_COORDINATES[id];
      if (!point) fail(`no coordinates for region ${id}: pass --regions '[{"id":"${id}","lat":..,"lon":..}]'`);
      return { id, lat: point[0], lon: point[1] };
    }),
  );
  if (!Array.isArray(regions) || !regions.length) fail('--regions must be a non-empty JSON array');
  for (const r of regions) {
    if (!r || !originUrls[r.id]) {
      fail(`region ${JSON.stringify(r && r.id)} in --regions has no origin in --origins`);
    }
  }
  const primary = pick('primary', 'EDGE_PRIMARY', regions[0].id);
  if (!originUrls[primary]) fail(`--primary ${primary} is not one of the origins (${Object.keys(originUrls)})`);
  const timeout = Number(pick('origin-timeout', 'EDGE_ORIGIN_TIMEOUT_MS', '30000'));
  if (!(timeout > 0)) fail(`--origin-timeout must be a positive number of milliseconds, got ${timeout}`);
  return {
    host: pick('host', 'EDGE_HOST', '127.0.0.1'),
    port,
    origins: originUrls,
    regions,
    primary,
    kvsFile: resolve(pick('kvs-file', 'EDGE_KVS_FILE', '.local/edge/kvs.json')),
    router: resolve(pick('router', 'EDGE_ROUTER', fileURLToPath(DEFAULT_ROUTER))),
    originTimeout: timeout,
    watchStdin: values['watch-stdin'],
  };
}

// ---------------------------------------------------------------------------------------------------
// The `cloudfront` module at run time

const perRequest = new AsyncLocalStorage(); // { kvs: Map | Error, decision: null | {...} }
let lastKvsProblem = '';

/** The drain state for one request: a Map of the KVS file's entries, or the Error reading it. */
async function kvsSnapshot(file) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return new Map(); // nothing drained yet
    return kvsProblem(new Error(`cannot read ${file}: ${e.message}`));
  }
  try {
    const parsed = JSON.parse(text);
    if (!parsed || !Array.isArray(parsed.data)) throw new Error('no "data" array');
    const entries = new Map();
    for (const item of parsed.data) {
      if (!item || typeof item.key !== 'string' || !item.key || typeof item.value !== 'string') {
        throw new Error(`entry ${JSON.stringify(item)} needs a non-empty string "key" and a string "value"`);
      }
      if (entries.has(item.key)) throw new Error(`key ${item.key} appears twice`);
      entries.set(item.key, item.value);
    }
    lastKvsProblem = '';
    return entries;
  } catch (e) {
    return kvsProblem(
      new Error(`${file} is not in the KVS import format {"data": [{"key": ..., "value": ...}]}: ${e.message}`),
    );
  }
}

// The router treats KVS errors as "serving" (fail open); say so once per distinct problem.
function kvsProblem(error) {
  if (error.message !== lastKvsProblem) {
    lastKvsProblem = error.message;
    logLine(`warning: ${error.message}; every region counts as serving until it is fixed`);
  }
  return error;
}

function current() {
  const store = perRequest.getStore();
  if (!store) throw new Error('the cloudfront module is only usable while a request is handled');
  return store;
}

function makeCloudfront(origins) {
  const checkId = (id) => {
    if (typeof id !== 'string' || !Object.hasOwn(origins, id)) {
      throw new Error(`origin ${JSON.stringify(id)} is not defined in this distribution`);
    }
  };
  const entries = () => {
    const kvs = current().kvs;
    if (kvs instanceof Error) throw kvs;
    return kvs;
  };
  const handle = {
    async exists(key) {
      return entries().has(key);
    },
    async get(key, options = {}) {
      const map = entries();
      if (!map.has(key)) throw new Error(`key ${key} not found`);
      const value = map.get(key);
      const format = options.format || 'string';
      if (format === 'json') return JSON.parse(value);
      if (format === 'bytes') return new TextEncoder().encode(value);
      return value;
    },
    async meta() {
      return { creationDateTime: '', lastUpdatedDateTime: '', keyCount: entries().size };
    },
  };
  return {
    kvs() {
      return handle;
    },
    selectRequestOriginById(id) {
      checkId(id);
      current().decision = { kind: 'single', ids: [id], statusCodes: [] };
    },
    createRequestOriginGroup(params) {
      // The documented example's form: [{originId: ...}, {originId: ...}] (router.js uses it).
      const given = params && params.originIds;
      const ids = Array.isArray(given) ? given.map((o) => (o && typeof o === 'object' ? o.originId : undefined)) : [];
      if (ids.length !== 2 || ids.some((id) => typeof id !== 'string') || ids[0] === ids[1]) {
        throw new TypeError(`originIds must be two {originId} objects with distinct ids, got ${JSON.stringify(given)}`);
      }
      ids.forEach(checkId);
      const codes = params.failoverCriteria && params.failoverCriteria.statusCodes;
      if (!Array.isArray(codes) || !codes.length) throw new TypeError('failoverCriteria.statusCodes is required');
      current().decision = { kind: 'group', ids: [...ids], statusCodes: [...codes] };
    },
    updateRequestOrigin() {
      throw new Error('updateRequestOrigin is not simulated by the local edge; use origin ids');
    },
  };
}

/** router.js with its placeholders filled, evaluated in a CloudFront-like sandbox; returns handler. */
function loadRouter(config) {
  let code;
  try {
    code = readFileSync(config.router, 'utf8');
  } catch (e) {
    fail(`cannot read the router function ${config.router}: ${e.message}`);
  }
  if (code.split('\n')[0].trim() !== IMPORT_LINE) fail(`${config.router} must start with ${IMPORT_LINE}`);
  for (const token of ['__REGIONS__', '__PRIMARY__']) {
    if (code.split(token).length !== 2) fail(`${config.router} must contain ${token} exactly once`);
  }
  code = code
    .replace(IMPORT_LINE, '"use strict";')
    .replace('__REGIONS__', () => JSON.stringify(config.regions))
    .replace('__PRIMARY__', () => JSON.stringify(config.primary));
  const sandbox = vm.createContext(
    { cf: makeCloudfront(config.origins), console: { log: (message) => logLine(`function: ${message}`) } },
    { name: 'CloudFront Function', codeGeneration: { strings: false, wasm: false } },
  );
  new vm.Script(code, { filename: config.router }).runInContext(sandbox);
  if (typeof sandbox.handler !== 'function') fail(`${config.router} defines no function handler(event)`);
  return sandbox.handler;
}

// ---------------------------------------------------------------------------------------------------
// HTTP request -> CloudFront Functions event -> origin

function addValue(target, key, value) {
  const existing = target[key];
  if (!existing) {
    target[key] = { value };
    return;
  }
  if (!existing.multiValue) existing.multiValue = [{ value: existing.value }];
  existing.multiValue.push({ value });
}

function allValues(entry) {
  if (!entry) return [];
  if (Array.isArray(entry.multiValue) && entry.multiValue.length) {
    return entry.multiValue.map((v) => String(v.value));
  }
  return entry.value === undefined ? [] : [String(entry.value)];
}

/** The hop-by-hop headers plus those a Connection header names for this connection only. */
function connectionScoped(connection) {
  const names = new Set(HOP_BY_HOP);
  for (const token of (connection || '').split(',')) {
    if (token.trim()) names.add(token.trim().toLowerCase());
  }
  return names;
}

/** The request target as {pathname, search}, taken literally (a WHATWG URL would read //x as a host). */
function splitTarget(target) {
  let text = target || '/';
  if (!text.startsWith('/')) {
    try {
      const absolute = new URL(text); // absolute-form, as sent to proxies
      text = absolute.pathname + absolute.search;
    } catch {
      text = `/${text}`;
    }
  }
  const at = text.indexOf('?');
  return at < 0 ? { pathname: text, search: '' } : { pathname: text.slice(0, at), search: text.slice(at) };
}

function viewerEvent(req, requestId) {
  const url = splitTarget(req.url);
  const headers = {};
  const cookies = {};
  const hopByHop = connectionScoped(req.headers.connection);
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    if (hopByHop.has(name)) continue;
    if (name === 'cookie') {
      // CloudFront hands cookies to the function separately and rebuilds the header afterwards.
      for (const pair of value.split(';')) {
        const at = pair.indexOf('=');
        const key = (at < 0 ? pair : pair.slice(0, at)).trim();
        if (key) addValue(cookies, key, at < 0 ? '' : pair.slice(at + 1).trim());
      }
      continue;
    }
    addValue(headers, name, value);
  }
  if (!GEO_HEADERS.some((name) => headers[name])) {
    headers['cloudfront-viewer-latitude'] = { value: DEFAULT_VIEWER.latitude };
    headers['cloudfront-viewer-longitude'] = { value: DEFAULT_VIEWER.longitude };
    headers['cloudfront-viewer-country'] = { value: DEFAULT_VIEWER.country };
  }
  const querystring = {};
  for (const part of url.search.slice(1).split('&')) {
    if (!part) continue;
    const at = part.indexOf('=');
    addValue(querystring, at < 0 ? part : part.slice(0, at), at < 0 ? '' : part.slice(at + 1));
  }
  return {
    version: '1.0',
    context: {
      distributionDomainName: `${req.headers.host || 'localhost'}`,
      distributionId: 'LOCALEDGE',
      eventType: 'viewer-request',
      requestId,
    },
    viewer: { ip: req.socket.remoteAddress || '127.0.0.1' },
    request: { method: req.method, uri: url.pathname, querystring, headers, cookies },
  };
}

/** Path and query for the origin: the raw ones unless the function changed them. */
function originPath(req, before, request) {
  const raw = splitTarget(req.url);
  const uri = typeof request.uri === 'string' && request.uri.startsWith('/') ? request.uri : raw.pathname;
  let search = raw.search;
  if (JSON.stringify(request.querystring || {}) !== before) {
    const parts = [];
    for (const [key, entry] of Object.entries(request.querystring || {})) {
      for (const value of allValues(entry)) parts.push(value === '' ? key : `${key}=${value}`);
    }
    search = parts.length ? `?${parts.join('&')}` : '';
  }
  return uri + search;
}

function originHeaders(request, viewerIp, requestId) {
  const out = [];
  for (const [name, entry] of Object.entries(request.headers || {})) {
    if (NOT_TO_ORIGIN.has(name.toLowerCase()) || name.toLowerCase() === 'x-forwarded-for') continue;
    for (const value of allValues(entry)) out.push(name, value);
  }
  const cookies = [];
  for (const [name, entry] of Object.entries(request.cookies || {})) {
    for (const value of allValues(entry)) cookies.push(`${name}=${value}`);
  }
  if (cookies.length) out.push('cookie', cookies.join('; '));
  // Like CloudFront: the viewer's own X-Forwarded-For chain, then the viewer's address.
  const forwarded = allValues(request.headers && request.headers['x-forwarded-for']);
  out.push('x-forwarded-for', [...forwarded, viewerIp].join(', '));
  out.push('via', '1.1 local-edge (CloudFront)', 'x-amz-cf-id', requestId);
  return out;
}

/** Response headers from the origin minus hop-by-hop ones, as a flat [name, value, ...] list. */
function viewerHeaders(res, extra) {
  const dropped = connectionScoped(res.headers.connection);
  const out = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i].toLowerCase();
    if (dropped.has(name) || name in extra) continue;
    out.push(res.rawHeaders[i], res.rawHeaders[i + 1]);
  }
  for (const [name, value] of Object.entries(extra)) out.push(name, value);
  return out;
}

// No keep-alive to the origins: a dev server that restarts would leave stale pooled sockets, whose
// first use fails and would look like an origin failure. A fresh loopback connection costs ~0.1 ms.
const agent = new http.Agent({ keepAlive: false });

/** One attempt at an origin. Resolves to {res} once it answers, or {error} if it cannot be reached. */
function attempt(config, region, method, path, headers, body) {
  return new Promise((resolveAttempt) => {
    const origin = config.origins[region];
    const upstream = http.request({
      agent,
      host: origin.hostname,
      port: origin.port || 80,
      method,
      path,
      headers: [...headers, 'host', origin.host],
      timeout: config.originTimeout,
    });
    let settled = false;
    const settle = (result) => {
      if (!settled) {
        settled = true;
        resolveAttempt({ ...result, upstream });
      }
    };
    upstream.on('response', (res) => settle({ res }));
    upstream.on('timeout', () => {
      upstream.destroy(Object.assign(new Error('origin response timeout'), { code: 'ETIMEDOUT' }));
    });
    upstream.on('error', (error) => settle({ error }));
    if (Buffer.isBuffer(body)) upstream.end(body);
    else body.pipe(upstream); // a viewer stream: written as it arrives
  });
}

function collect(req, limit) {
  return new Promise((resolveBody, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (chunk) => {
      size += chunk.length;
      if (size > limit) {
        // Read the rest and drop it, so the viewer finishes sending and then sees the 413.
        req.off('data', onData);
        req.resume();
        reject(Object.assign(new Error(`request body over ${limit} bytes`), { code: 'EBODYTOOLARGE' }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolveBody(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendProblem(req, res, status, type, title, detail, extra = {}) {
  const body = JSON.stringify({ type: `urn:ecommerce:problem:${type}`, title, status, detail });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function describeError(error) {
  return error.code ? `${error.code}` : error.message;
}

/** The function answered itself ({statusCode, headers, body}), as CloudFront lets it do. */
function sendGenerated(req, res, generated) {
  const headers = [];
  for (const [name, entry] of Object.entries(generated.headers || {})) {
    for (const value of allValues(entry)) headers.push(name, value);
  }
  let body = '';
  if (typeof generated.body === 'string') body = generated.body;
  else if (generated.body && typeof generated.body.data === 'string') {
    body = Buffer.from(generated.body.data, generated.body.encoding === 'base64' ? 'base64' : 'utf8');
  }
  res.writeHead(Number(generated.statusCode), generated.statusDescription, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function serve(config, handler, req, res) {
  const started = process.hrtime.bigint();
  const requestId = randomBytes(12).toString('base64url');
  const event = viewerEvent(req, requestId);
  const queryBefore = JSON.stringify(event.request.querystring);
  let route = '-';
  res.on('close', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const status = res.writableFinished ? res.statusCode : `${res.statusCode} (aborted)`;
    logLine(`${req.method} ${event.request.uri} ${route} ${status} ${ms.toFixed(1)}ms`);
  });

  // Run the viewer-request function with this request's drain state.
  const store = { kvs: await kvsSnapshot(config.kvsFile), decision: null };
  let result;
  try {
    result = await perRequest.run(store, () => handler(event));
  } catch (e) {
    logLine(`function error: ${e && e.stack ? e.stack : e}`);
    sendProblem(
      req,
      res,
      503,
      'edge-function-error',
      'The edge function failed',
      `router.js threw ${e}; CloudFront answers 503 (FunctionExecutionError) in this case. Fix the function.`,
    );
    return;
  }
  if (result && result.statusCode !== undefined) {
    route = 'function-response';
    sendGenerated(req, res, result);
    return;
  }
  const request = result || event.request;
  // No decision: the behaviour's default origin serves, which is the primary region's.
  const decision = store.decision || { kind: 'single', ids: [config.primary], statusCodes: [] };
  const failover = decision.kind === 'group' && FAILOVER_METHODS.has(req.method);
  const ids = failover ? decision.ids : decision.ids.slice(0, 1);
  const path = originPath(req, queryBefore, request);
  const headers = originHeaders(request, event.viewer.ip, requestId);

  let body = req;
  if (ids.length > 1) {
    try {
      body = await collect(req, MAX_REPLAY_BYTES);
    } catch (e) {
      if (e.code !== 'EBODYTOOLARGE') return; // the viewer went away
      sendProblem(
        req,
        res,
        413,
        'edge-body-too-large',
        'Request body too large for a failover read',
        `The local edge buffers ${req.method} bodies up to ${MAX_REPLAY_BYTES} bytes to replay them on failover.`,
      );
      return;
    }
  }

  const failures = [];
  for (let i = 0; i < ids.length; i++) {
    const region = ids[i];
    const last = i === ids.length - 1;
    const { res: answer, error, upstream } = await attempt(config, region, req.method, path, headers, body);
    if (error) {
      failures.push(`${region} (${config.origins[region].origin}: ${describeError(error)})`);
      continue;
    }
    if (!last && decision.statusCodes.includes(answer.statusCode)) {
      failures.push(`${region} (${answer.statusCode})`);
      answer.resume(); // CloudFront discards the primary's answer and asks the secondary
      continue;
    }
    route = failures.length ? `${failures.map((f) => f.split(' ')[0]).join(' > ')} > ${region}` : region;
    const extra = { 'x-edge-region': region };
    if (failures.length) extra['x-edge-failover'] = failures.join(', ');
    res.writeHead(answer.statusCode, answer.statusMessage, viewerHeaders(answer, extra));
    answer.pipe(res);
    answer.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy(); // the viewer went away: stop the origin's work
    });
    return;
  }
  route = `${ids.join(' > ')} unreachable`;
  sendProblem(
    req,
    res,
    502,
    'edge-origin-unreachable',
    'No region answered',
    `The local edge could not reach ${failures.join(' or ')}. Is \`make dev\` serving ${ids.join(' and ')}?`,
    { 'x-edge-region': ids[ids.length - 1] },
  );
}

// ---------------------------------------------------------------------------------------------------
// Process

function main() {
  const [major] = process.versions.node.split('.').map(Number);
  if (major < 18) fail(`Node.js 18 or newer is needed, this is ${process.version}`);
  const config = configuration(process.argv.slice(2), process.env);
  const handler = loadRouter(config);

  const server = http.createServer((req, res) => {
    serve(config, handler, req, res).catch((e) => {
      logLine(`internal error: ${e && e.stack ? e.stack : e}`);
      sendProblem(req, res, 500, 'edge-internal-error', 'Local edge error', String(e));
    });
  });
  server.on('clientError', (error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  server.on('error', (error) => {
    const reason = error.code === 'EADDRINUSE' ? 'the address is in use' : error.message;
    fail(`cannot listen on ${config.host}:${config.port}: ${reason}; choose another port`);
  });

  let stopping = false;
  const stop = (why) => {
    if (stopping) process.exit(0); // a second signal: do not wait for open connections
    stopping = true;
    server.close(() => {
      logLine(`stopped (${why})`);
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      process.exit(0);
    }, 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (config.watchStdin) {
    process.stdin.on('end', () => stop('launcher gone'));
    process.stdin.on('error', () => stop('launcher gone'));
    process.stdin.resume();
  }

  server.listen(config.port, config.host, () => {
    const { port } = server.address();
    const origins = Object.entries(config.origins)
      .map(([region, url]) => `${region} -> ${url.origin}`)
      .join(', ');
    const about = `${origins}; primary ${config.primary}; drain state ${config.kvsFile}`;
    process.stdout.write(`${READY_MARKER}http://${config.host}:${port} (${about})\n`);
  });
}

main();
