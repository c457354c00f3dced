// Tests of the viewer-request CloudFront Function src/ecommerce_constructs/edge/router.js.
//
// Run: node --test tests/js/   (only node:test and node:assert; no npm packages)
//
// The function is plain CloudFront Functions code and not a Node module. Each load reads the file,
// fills in its two placeholders, points `import cf from 'cloudfront';` at ./cloudfront-shim.mjs
// (absolute file URL), appends an export line, and imports the copy from a temp directory.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import * as shim from './cloudfront-shim.mjs';

const ROUTER_PATH = fileURLToPath(new URL('../../src/ecommerce_constructs/edge/router.js', import.meta.url));
const SHIM_URL = new URL('./cloudfront-shim.mjs', import.meta.url).href;
const IMPORT_LINE = "import cf from 'cloudfront';";

// Real-ish region coordinates (the CDK side passes these in REGIONS).
const US = [
  { id: 'us-east-1', lat: 38.9, lon: -77.4 }, // N. Virginia
  { id: 'us-east-2', lat: 40.0, lon: -83.0 }, // Ohio
];
const EUROPE = [
  { id: 'eu-west-1', lat: 53.35, lon: -6.26 }, // Dublin
  { id: 'eu-central-1', lat: 50.11, lon: 8.68 }, // Frankfurt
  { id: 'eu-west-2', lat: 51.51, lon: -0.13 }, // London
];

// Six regions on five continents, for the failover order (nearest, then next nearest).
const WORLD = [
  { id: 'us-east-1', lat: 38.9, lon: -77.4 }, // N. Virginia
  { id: 'us-west-2', lat: 45.8, lon: -119.7 }, // Oregon
  { id: 'eu-west-1', lat: 53.35, lon: -6.26 }, // Dublin
  { id: 'ap-northeast-1', lat: 35.68, lon: 139.69 }, // Tokyo
  { id: 'ap-southeast-2', lat: -33.87, lon: 151.21 }, // Sydney
  { id: 'sa-east-1', lat: -23.55, lon: -46.63 }, // São Paulo
];

const FAILOVER_CODES = [500, 502, 503, 504];
const READS = ['GET', 'HEAD', 'OPTIONS'];
const WRITES = ['POST', 'PUT', 'PATCH', 'DELETE'];

const CITIES = {
  'New York': ['40.71', '-74.01'],
  Boston: ['42.36', '-71.06'],
  Miami: ['25.76', '-80.19'],
  Chicago: ['41.88', '-87.63'],
  Toronto: ['43.65', '-79.38'],
  'Los Angeles': ['34.05', '-118.24'],
  Seattle: ['47.61', '-122.33'],
  'São Paulo': ['-23.55', '-46.63'],
  London: ['51.51', '-0.13'],
  Edinburgh: ['55.95', '-3.19'],
  Dublin: ['53.35', '-6.26'],
  Paris: ['48.86', '2.35'],
  Madrid: ['40.42', '-3.70'],
  Frankfurt: ['50.11', '8.68'],
  Warsaw: ['52.23', '21.01'],
  Cairo: ['30.04', '31.24'],
  Mumbai: ['19.08', '72.88'],
  Tokyo: ['35.68', '139.69'],
  Sydney: ['-33.87', '151.21'],
};

const workDir = mkdtempSync(join(tmpdir(), 'edge-router-test-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

const source = readFileSync(ROUTER_PATH, 'utf8');
let loads = 0;

function replaceOnce(text, token, value) {
  const parts = text.split(token);
  assert.equal(parts.length, 2, `${token} must appear exactly once in router.js`);
  return parts.join(value);
}

/** Import a copy of router.js configured with these regions; returns { handler, ZONES }. */
async function loadRouter(regions, primary) {
  let code = replaceOnce(source, '__REGIONS__', JSON.stringify(regions));
  code = replaceOnce(code, '__PRIMARY__', JSON.stringify(primary));
  code = replaceOnce(code, IMPORT_LINE, `import cf from ${JSON.stringify(SHIM_URL)};`);
  code += '\nexport { handler, ZONES };\n';
  loads += 1;
  const file = join(workDir, `router-${loads}.mjs`);
  writeFileSync(file, code);
  return import(pathToFileURL(file).href);
}

/** A viewer-request event in CloudFront's shape. Pass undefined to leave a header out. */
function viewerEvent({ lat, lon, country, headers = {}, method = 'GET' } = {}) {
  const h = { host: { value: 'd111111abcdef8.cloudfront.net' }, ...headers };
  if (lat !== undefined) h['cloudfront-viewer-latitude'] = { value: lat };
  if (lon !== undefined) h['cloudfront-viewer-longitude'] = { value: lon };
  if (country !== undefined) h['cloudfront-viewer-country'] = { value: country };
  return {
    version: '1.0',
    context: { distributionId: 'EDFDVBD6EXAMPLE', eventType: 'viewer-request', requestId: 'r-1' },
    viewer: { ip: '198.51.100.7' },
    request: { method, uri: '/products', querystring: {}, headers: h, cookies: {} },
  };
}

/**
 * Run the handler; check that it made exactly one origin call and echoed the serving region in
 * x-edge-region. Returns the call: {kind: 'single', id} or {kind: 'group', ids, statusCodes}.
 */
async function decide(router, eventOptions) {
  const event = viewerEvent(eventOptions);
  const request = await router.handler(event);
  assert.equal(request, event.request, 'the handler returns the incoming request object');
  const made = shim.decisions();
  assert.equal(made.length, 1, `exactly one origin call, got ${JSON.stringify(made)}`);
  const serving = made[0].kind === 'group' ? made[0].ids[0] : made[0].id;
  assert.deepEqual(request.headers['x-edge-region'], { value: serving });
  return made[0];
}

/** The region that serves the request (the group's primary, or the single origin). */
async function route(router, eventOptions) {
  const d = await decide(router, eventOptions);
  return d.kind === 'group' ? d.ids[0] : d.id;
}

function at(city) {
  const [lat, lon] = CITIES[city];
  return { lat, lon };
}

beforeEach(() => shim.reset());

describe('placeholders and module shape', () => {
  it('starts with the cloudfront import and has each placeholder exactly once', () => {
    assert.equal(source.split('\n')[0], IMPORT_LINE);
    assert.equal(source.split('__REGIONS__').length, 2);
    assert.equal(source.split('__PRIMARY__').length, 2);
    assert.match(source, /^const REGIONS = __REGIONS__;$/m);
    assert.match(source, /^const PRIMARY = __PRIMARY__;$/m);
  });

  it('the handler is an async function that resolves to the request', async () => {
    const router = await loadRouter(US, 'us-east-1');
    assert.equal(router.handler.constructor.name, 'AsyncFunction');
    const result = router.handler(viewerEvent(at('New York')));
    assert.ok(result instanceof Promise);
    assert.equal((await result).uri, '/products');
  });

  it('the country table lists each code once, as two capital letters, with valid points', async () => {
    const { ZONES } = await loadRouter(US, 'us-east-1');
    const seen = new Set();
    for (const [lat, lon, codes] of ZONES) {
      assert.ok(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180, `${lat},${lon}`);
      for (const code of codes.split(' ')) {
        assert.match(code, /^[A-Z]{2}$/);
        assert.ok(!seen.has(code), `${code} is listed twice`);
        seen.add(code);
      }
    }
    assert.ok(seen.size > 200, `only ${seen.size} countries mapped`);
  });
});

describe('nearest region, two-region US config (us-east-1, us-east-2)', () => {
  const expected = {
    'New York': 'us-east-1',
    Boston: 'us-east-1',
    Miami: 'us-east-1',
    Chicago: 'us-east-2',
    Toronto: 'us-east-2',
    'Los Angeles': 'us-east-2',
    Seattle: 'us-east-2',
    'São Paulo': 'us-east-1',
    London: 'us-east-1',
    Frankfurt: 'us-east-1',
    Tokyo: 'us-east-2', // the great circle runs over Alaska
    Sydney: 'us-east-2',
  };
  for (const [city, region] of Object.entries(expected)) {
    it(`${city} -> ${region}`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      assert.equal(await route(router, at(city)), region);
    });
  }

  it('the primary does not win over a nearer region', async () => {
    const router = await loadRouter(US, 'us-east-1');
    assert.equal(await route(router, at('Chicago')), 'us-east-2');
  });
});

describe('nearest region, three-region Europe config (eu-west-1, eu-central-1, eu-west-2)', () => {
  const expected = {
    'New York': 'eu-west-1',
    Chicago: 'eu-west-1',
    'Los Angeles': 'eu-west-1',
    Seattle: 'eu-west-1',
    'São Paulo': 'eu-west-1',
    London: 'eu-west-2',
    Edinburgh: 'eu-west-1',
    Dublin: 'eu-west-1',
    Paris: 'eu-west-2',
    Madrid: 'eu-west-2',
    Frankfurt: 'eu-central-1',
    Warsaw: 'eu-central-1',
    Cairo: 'eu-central-1',
    Mumbai: 'eu-central-1',
    Tokyo: 'eu-central-1',
    Sydney: 'eu-central-1',
  };
  for (const [city, region] of Object.entries(expected)) {
    it(`${city} -> ${region}`, async () => {
      const router = await loadRouter(EUROPE, 'eu-west-1');
      assert.equal(await route(router, at(city)), region);
    });
  }

  it('accepts extreme but valid coordinates (the poles: the most northern / southern region)', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    assert.equal(await route(router, { lat: '90', lon: '180' }), 'eu-west-1');
    shim.reset();
    assert.equal(await route(router, { lat: '-90.0', lon: '-180.0' }), 'eu-central-1');
  });
});

describe('drained regions', () => {
  it('skips the drained nearest region for the next nearest', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    shim.setEntries({ 'drained:eu-west-2': 'true' });
    assert.equal(await route(router, at('Paris')), 'eu-central-1');
  });

  it('skips every drained region in distance order', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    shim.setEntries({ 'drained:eu-west-2': 'true', 'drained:eu-central-1': 'true' });
    assert.equal(await route(router, at('Paris')), 'eu-west-1');
  });

  it('a drained region that is not the nearest changes nothing', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'drained:us-east-2': 'true' });
    assert.equal(await route(router, at('New York')), 'us-east-1');
  });

  it('when every region is drained, the nearest still serves (US)', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'drained:us-east-1': 'true', 'drained:us-east-2': 'true' });
    assert.equal(await route(router, at('Chicago')), 'us-east-2');
  });

  it('when every region is drained, the nearest still serves (Europe)', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    shim.setEntries({
      'drained:eu-west-1': 'true',
      'drained:eu-central-1': 'true',
      'drained:eu-west-2': 'true',
    });
    assert.equal(await route(router, at('Paris')), 'eu-west-2');
  });

  for (const value of ['false', '', 'yes', '1', 'drained', 'true-ish', '{"drained":true}']) {
    it(`value ${JSON.stringify(value)} means serving`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      shim.setEntries({ 'drained:us-east-1': value });
      assert.equal(await route(router, at('New York')), 'us-east-1');
    });
  }

  for (const value of ['true', 'TRUE', ' True\n']) {
    it(`value ${JSON.stringify(value)} means drained (trimmed, case-insensitive)`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      shim.setEntries({ 'drained:us-east-1': value });
      assert.equal(await route(router, at('New York')), 'us-east-2');
    });
  }

  it('keys are per region: "drained" or another prefix is ignored', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ drained: 'true', 'drain:us-east-1': 'true', 'drained:US-EAST-1': 'true' });
    assert.equal(await route(router, at('New York')), 'us-east-1');
  });

  it('reads the KVS one region at a time and stops at the first serving one', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    await route(router, at('Paris'));
    // Then, for a read, the failover-groups switch (one more read).
    assert.deepEqual(shim.kvsReads(), ['exists drained:eu-west-2', 'exists failover-groups']);

    shim.reset();
    shim.setEntries({ 'drained:eu-west-2': 'true' });
    await route(router, at('Paris'));
    assert.deepEqual(shim.kvsReads(), [
      'exists drained:eu-west-2',
      'get drained:eu-west-2',
      'exists drained:eu-central-1',
      'exists failover-groups',
    ]);
  });

  it('a single-region deployment never reads the KVS and always uses its region', async () => {
    const router = await loadRouter([{ id: 'us-east-1', lat: 38.9, lon: -77.4 }], 'us-east-1');
    shim.setEntries({ 'drained:us-east-1': 'true' });
    assert.equal(await route(router, at('Tokyo')), 'us-east-1');
    assert.deepEqual(shim.kvsReads(), []);
  });
});

describe('KeyValueStore failures fail open', () => {
  it('cf.kvs() throwing (no store associated) -> nearest region', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'drained:us-east-1': 'true' });
    shim.failKvsHandle();
    assert.equal(await route(router, at('New York')), 'us-east-1');
  });

  it('every read rejecting -> nearest region, even if it is marked drained', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    shim.setEntries({ 'drained:eu-central-1': 'true' });
    shim.failKvsReads();
    assert.equal(await route(router, at('Frankfurt')), 'eu-central-1');
  });

  it('get() rejecting after exists() said yes -> that region serves', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'drained:us-east-1': 'true' });
    shim.failKvsReads({ ops: ['get'] });
    assert.equal(await route(router, at('New York')), 'us-east-1');
  });

  it('a failing read for one region only affects that region', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    shim.setEntries({ 'drained:eu-west-2': 'true', 'drained:eu-central-1': 'true' });
    shim.failKvsReads({ keys: ['drained:eu-central-1'] });
    // eu-west-2 is drained. The eu-central-1 lookup fails, so eu-central-1 counts as serving.
    assert.equal(await route(router, at('Paris')), 'eu-central-1');
  });
});

describe('location fallbacks', () => {
  const garbled = ['', '   ', 'abc', 'NaN', '1e3', '0x1f', '12.3.4', '40,71', '-', '91', '-90.5', 'Infinity'];
  for (const lat of garbled) {
    it(`latitude ${JSON.stringify(lat)} -> country fallback`, async () => {
      const router = await loadRouter(EUROPE, 'eu-west-1');
      assert.equal(await route(router, { lat, lon: '8.68', country: 'DE' }), 'eu-central-1');
    });
  }

  it('longitude out of range -> country fallback', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    assert.equal(await route(router, { lat: '50.11', lon: '181', country: 'GB' }), 'eu-west-2');
  });

  it('latitude without longitude -> country fallback', async () => {
    const router = await loadRouter(US, 'us-east-1');
    assert.equal(await route(router, { lat: '40.71', country: 'US' }), 'us-east-2');
  });

  it('header objects without a string value count as missing', async () => {
    const router = await loadRouter(US, 'us-east-1');
    const headers = {
      'cloudfront-viewer-latitude': {},
      'cloudfront-viewer-longitude': { value: -74.01 },
      'cloudfront-viewer-country': { value: null },
    };
    assert.equal(await route(router, { headers }), 'us-east-1');
  });

  const byCountry = [
    [US, 'us-east-1', 'US', 'us-east-2'],
    [US, 'us-east-1', 'CA', 'us-east-2'],
    [US, 'us-east-2', 'BR', 'us-east-1'],
    [US, 'us-east-1', 'JP', 'us-east-2'],
    [EUROPE, 'eu-west-1', 'GB', 'eu-west-2'],
    [EUROPE, 'eu-west-2', 'IE', 'eu-west-1'],
    [EUROPE, 'eu-west-1', 'FR', 'eu-west-2'],
    [EUROPE, 'eu-west-1', 'DE', 'eu-central-1'],
    [EUROPE, 'eu-west-1', 'IT', 'eu-central-1'],
    [EUROPE, 'eu-west-1', 'IN', 'eu-central-1'],
    [EUROPE, 'eu-central-1', 'US', 'eu-west-1'],
  ];
  for (const [regions, primary, country, region] of byCountry) {
    const where = regions === US ? 'US' : 'Europe';
    it(`no lat/lon, country ${country} -> ${region} (${where} config)`, async () => {
      const router = await loadRouter(regions, primary);
      assert.equal(await route(router, { country }), region);
    });
  }

  it('country codes are trimmed and upper-cased', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    assert.equal(await route(router, { country: ' de ' }), 'eu-central-1');
  });

  for (const country of [undefined, '', 'ZZ', 'XX', 'A1', 'EUR', 'D', 'AQ']) {
    it(`no lat/lon, country ${JSON.stringify(country)} -> primary`, async () => {
      const router = await loadRouter(EUROPE, 'eu-central-1');
      assert.equal(await route(router, { country }), 'eu-central-1');
    });
  }

  it('no location and a drained primary -> the other regions in config order', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-2');
    shim.setEntries({ 'drained:eu-west-2': 'true' });
    assert.equal(await route(router, {}), 'eu-west-1');
    shim.reset();
    shim.setEntries({ 'drained:eu-west-2': 'true', 'drained:eu-west-1': 'true' });
    assert.equal(await route(router, {}), 'eu-central-1');
  });

  it('no location and every region drained -> primary', async () => {
    const router = await loadRouter(US, 'us-east-2');
    shim.setEntries({ 'drained:us-east-1': 'true', 'drained:us-east-2': 'true' });
    assert.equal(await route(router, {}), 'us-east-2');
  });
});

describe('request handling', () => {
  it('overwrites a viewer-supplied x-edge-region and leaves other headers alone', async () => {
    const router = await loadRouter(US, 'us-east-1');
    const headers = { 'x-edge-region': { value: 'spoofed' }, accept: { value: 'application/json' } };
    const event = viewerEvent({ ...at('Chicago'), headers });
    const request = await router.handler(event);
    assert.deepEqual(request.headers['x-edge-region'], { value: 'us-east-2' });
    assert.deepEqual(request.headers.accept, { value: 'application/json' });
    assert.deepEqual(request.headers.host, { value: 'd111111abcdef8.cloudfront.net' });
    assert.equal(request.method, 'GET');
    assert.equal(request.uri, '/products');
  });

  it('a request without a headers object still gets routed', async () => {
    const router = await loadRouter(US, 'us-east-2');
    const event = viewerEvent();
    delete event.request.headers;
    const request = await router.handler(event);
    assert.deepEqual(shim.decisions(), [
      { kind: 'group', ids: ['us-east-2', 'us-east-1'], statusCodes: [500, 502, 503, 504] },
    ]);
    assert.deepEqual(request.headers, { 'x-edge-region': { value: 'us-east-2' } });
  });

  it('an origin id the distribution lacks does not fail the request', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setKnownOrigins(['some-other-origin']);
    for (const method of ['GET', 'POST']) {
      shim.reset();
      shim.setKnownOrigins(['some-other-origin']);
      const request = await router.handler(viewerEvent({ ...at('New York'), method }));
      assert.deepEqual(shim.decisions(), []);
      assert.deepEqual(request.headers['x-edge-region'], { value: 'default' });
    }
  });

  it('an empty region list keeps the default origin', async () => {
    const router = await loadRouter([], 'us-east-1');
    const request = await router.handler(viewerEvent(at('New York')));
    assert.deepEqual(shim.decisions(), []);
    assert.equal(shim.groupAttempts(), 0);
    assert.deepEqual(request.headers['x-edge-region'], { value: 'default' });
  });

  it('a region without usable coordinates ranks last but still serves', async () => {
    const regions = [{ id: 'us-east-1' }, { id: 'us-east-2', lat: 40.0, lon: -83.0 }];
    const router = await loadRouter(regions, 'us-east-1');
    assert.equal(await route(router, at('New York')), 'us-east-2');
    shim.reset();
    shim.setEntries({ 'drained:us-east-2': 'true' });
    assert.equal(await route(router, at('New York')), 'us-east-1');
  });
});

describe('reads get an origin group (nearest, then next), writes a single origin', () => {
  // Expected [serving, failover] pairs; the distances were worked out independently of router.js.
  const world = {
    'New York': ['us-east-1', 'us-west-2'],
    Chicago: ['us-east-1', 'us-west-2'],
    Miami: ['us-east-1', 'us-west-2'],
    Seattle: ['us-west-2', 'us-east-1'],
    'Los Angeles': ['us-west-2', 'us-east-1'],
    'São Paulo': ['sa-east-1', 'us-east-1'],
    London: ['eu-west-1', 'us-east-1'],
    Warsaw: ['eu-west-1', 'us-east-1'],
    Cairo: ['eu-west-1', 'us-east-1'],
    Mumbai: ['ap-northeast-1', 'eu-west-1'],
    Tokyo: ['ap-northeast-1', 'ap-southeast-2'],
    Sydney: ['ap-southeast-2', 'ap-northeast-1'],
  };
  for (const [city, ids] of Object.entries(world)) {
    it(`GET from ${city} -> group ${ids.join(' then ')}; POST -> ${ids[0]} alone`, async () => {
      const router = await loadRouter(WORLD, 'us-east-1');
      assert.deepEqual(await decide(router, at(city)), { kind: 'group', ids, statusCodes: FAILOVER_CODES });
      shim.reset();
      assert.deepEqual(await decide(router, { ...at(city), method: 'POST' }), { kind: 'single', id: ids[0] });
    });
  }

  for (const method of READS) {
    it(`${method} -> origin group with the documented argument shape`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      assert.deepEqual(await decide(router, { ...at('Chicago'), method }), {
        kind: 'group',
        ids: ['us-east-2', 'us-east-1'],
        statusCodes: FAILOVER_CODES,
      });
    });
  }

  for (const method of WRITES) {
    it(`${method} -> single origin, no group attempted (CloudFront never fails writes over)`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      assert.deepEqual(await decide(router, { ...at('Chicago'), method }), { kind: 'single', id: 'us-east-2' });
      assert.equal(shim.groupAttempts(), 0);
    });
  }

  for (const method of ['get', 'Head']) {
    it(`method ${JSON.stringify(method)} is compared case-insensitively`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      assert.equal((await decide(router, { ...at('New York'), method })).kind, 'group');
    });
  }

  for (const method of ['', 'TRACE', 'CONNECT', 'PROPFIND', undefined, null, 42]) {
    it(`method ${JSON.stringify(method)} -> single origin (only known reads fail over)`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      const event = viewerEvent(at('New York'));
      event.request.method = method;
      await router.handler(event);
      assert.deepEqual(shim.decisions(), [{ kind: 'single', id: 'us-east-1' }]);
      assert.deepEqual(event.request.headers['x-edge-region'], { value: 'us-east-1' });
    });
  }

  it('a single-region deployment never builds a group', async () => {
    const router = await loadRouter([{ id: 'us-east-1', lat: 38.9, lon: -77.4 }], 'us-east-1');
    for (const method of ['GET', 'POST']) {
      shim.reset();
      assert.deepEqual(await decide(router, { ...at('Tokyo'), method }), { kind: 'single', id: 'us-east-1' });
      assert.equal(shim.groupAttempts(), 0);
    }
  });

  it('no location -> primary first, then the next region in config order', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-2');
    assert.deepEqual((await decide(router, {})).ids, ['eu-west-2', 'eu-west-1']);
  });

  it('garbled geo headers -> country fallback, same group shape', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    const d = await decide(router, { lat: 'north', lon: '8.68', country: 'DE' });
    assert.deepEqual(d.ids, ['eu-central-1', 'eu-west-2']);
  });
});

describe('failover member and drain state', () => {
  // Paris ranks eu-west-2 (London), eu-central-1 (Frankfurt), eu-west-1 (Dublin).
  const cases = [
    [[], ['eu-west-2', 'eu-central-1']],
    [['eu-central-1'], ['eu-west-2', 'eu-central-1']], // the fallback may be drained
    [['eu-west-2'], ['eu-central-1', 'eu-west-1']],
    [['eu-west-2', 'eu-central-1'], ['eu-west-1', 'eu-west-2']], // wraps round to the nearest
    [['eu-west-2', 'eu-central-1', 'eu-west-1'], ['eu-west-2', 'eu-central-1']], // all drained
  ];
  for (const [drained, ids] of cases) {
    it(`drained [${drained.join(', ')}] -> group ${ids.join(' then ')}`, async () => {
      const router = await loadRouter(EUROPE, 'eu-west-1');
      shim.setEntries(Object.fromEntries(drained.map((r) => [`drained:${r}`, 'true'])));
      assert.deepEqual((await decide(router, at('Paris'))).ids, ids);
    });
  }

  it('two regions, nearest drained -> the other serves and the drained one is the fallback', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'drained:us-east-1': 'true' });
    assert.deepEqual((await decide(router, at('New York'))).ids, ['us-east-2', 'us-east-1']);
    shim.reset();
    shim.setEntries({ 'drained:us-east-1': 'true' });
    assert.deepEqual(await decide(router, { ...at('New York'), method: 'PUT' }), { kind: 'single', id: 'us-east-2' });
  });

  it('the last serving region is never skipped, for reads or writes', async () => {
    const router = await loadRouter(US, 'us-east-1');
    const all = { 'drained:us-east-1': 'true', 'drained:us-east-2': 'true' };
    shim.setEntries(all);
    assert.deepEqual((await decide(router, at('Chicago'))).ids, ['us-east-2', 'us-east-1']);
    shim.reset();
    shim.setEntries(all);
    assert.deepEqual(await decide(router, { ...at('Chicago'), method: 'DELETE' }), { kind: 'single', id: 'us-east-2' });
  });

  it('the failover member costs no extra KVS read (only the switch is read)', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    await decide(router, at('Paris'));
    assert.deepEqual(shim.kvsReads(), ['exists drained:eu-west-2', 'exists failover-groups']);
  });

  it('KVS reads failing -> nearest serves, next is the fallback (fail open)', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'drained:us-east-1': 'true' });
    shim.failKvsReads();
    assert.deepEqual((await decide(router, at('New York'))).ids, ['us-east-1', 'us-east-2']);
    shim.reset();
    shim.failKvsHandle();
    assert.deepEqual((await decide(router, at('Chicago'))).ids, ['us-east-2', 'us-east-1']);
  });
});

describe('createRequestOriginGroup refused -> single origin (the hedge)', () => {
  for (const method of READS) {
    it(`${method}: the group call throws -> selectRequestOriginById(nearest)`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      shim.failOriginGroups();
      assert.deepEqual(await decide(router, { ...at('Chicago'), method }), { kind: 'single', id: 'us-east-2' });
      assert.equal(shim.groupAttempts(), 1);
    });
  }

  it('still honours drain state', async () => {
    const router = await loadRouter(EUROPE, 'eu-west-1');
    shim.setEntries({ 'drained:eu-west-2': 'true' });
    shim.failOriginGroups();
    assert.deepEqual(await decide(router, at('Paris')), { kind: 'single', id: 'eu-central-1' });
  });

  it('a failover origin the distribution lacks -> the single nearest origin', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setKnownOrigins(['us-east-1']);
    assert.deepEqual(await decide(router, at('New York')), { kind: 'single', id: 'us-east-1' });
    assert.equal(shim.groupAttempts(), 1);
  });

  it('both calls refused -> default origin, the request still passes', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.failOriginGroups();
    shim.setKnownOrigins([]);
    const request = await router.handler(viewerEvent(at('New York')));
    assert.deepEqual(shim.decisions(), []);
    assert.equal(shim.groupAttempts(), 1);
    assert.deepEqual(request.headers['x-edge-region'], { value: 'default' });
    assert.equal(request.uri, '/products');
  });
});

describe('the failover-groups switch (KVS key failover-groups)', () => {
  it('"off" -> selectRequestOriginById for reads too, without a deploy', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'failover-groups': 'off' });
    for (const method of READS) {
      shim.reset();
      shim.setEntries({ 'failover-groups': ' OFF ' });
      assert.deepEqual(await decide(router, { ...at('Chicago'), method }), { kind: 'single', id: 'us-east-2' });
      assert.equal(shim.groupAttempts(), 0);
    }
  });

  it('"off" still honours drain state', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'failover-groups': 'off', 'drained:us-east-2': 'true' });
    assert.deepEqual(await decide(router, at('Chicago')), { kind: 'single', id: 'us-east-1' });
  });

  for (const value of ['on', 'true', '', 'offline']) {
    it(`${JSON.stringify(value)} keeps groups on`, async () => {
      const router = await loadRouter(US, 'us-east-1');
      shim.setEntries({ 'failover-groups': value });
      assert.equal((await decide(router, at('Chicago'))).kind, 'group');
    });
  }

  it('a KVS error keeps groups on (fail open, as for drains)', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'failover-groups': 'off' });
    shim.failKvsReads();
    assert.equal((await decide(router, at('Chicago'))).kind, 'group');
  });

  it('writes never read the switch', async () => {
    const router = await loadRouter(US, 'us-east-1');
    shim.setEntries({ 'failover-groups': 'off' });
    await decide(router, { ...at('Chicago'), method: 'POST' });
    assert.ok(!shim.kvsReads().some((r) => r.includes('failover-groups')), JSON.stringify(shim.kvsReads()));
  });
});

describe('createRequestOriginGroup argument', () => {
  it("has the documented example's form: originIds as {originId} objects", async () => {
    const router = await loadRouter(US, 'us-east-1');
    const seen = [];
    const original = shim.default.createRequestOriginGroup;
    shim.default.createRequestOriginGroup = (params) => {
      seen.push(params);
      return original.call(shim.default, params);
    };
    try {
      await decide(router, at('Chicago'));
    } finally {
      shim.default.createRequestOriginGroup = original;
    }
    assert.deepEqual(seen, [
      {
        originIds: [{ originId: 'us-east-2' }, { originId: 'us-east-1' }],
        failoverCriteria: { statusCodes: FAILOVER_CODES },
      },
    ]);
  });
});
