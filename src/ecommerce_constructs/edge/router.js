import cf from 'cloudfront';
// ^ CloudFront wants this import on the first line of the code.
//
// Viewer-request CloudFront Function (JavaScript runtime 2.0). It sends each request to the
// regional API nearest the viewer that is not drained; reads may fail over to the next region.
//
// Substitution (done by the CDK code). Each placeholder token appears exactly once in this file,
// on the two `const` lines below. Replace it with a JSON literal:
//   REGIONS: JSON array of {"id": <origin id = region name>, "lat": <degrees>, "lon": <degrees>},
//            e.g. const REGIONS = [{"id":"us-east-1","lat":38.9,"lon":-77.0},{"id":"us-east-2","lat":40.0,"lon":-83.0}];
//   PRIMARY: JSON string naming one of the REGIONS ids, e.g. const PRIMARY = "us-east-1";
// The distribution needs one origin per region, and each origin id must equal the region name.
// src/ecommerce_dev/edge_local/server.mjs runs this same file for `make dev`.
//
// How a request is routed:
//  1. Viewer location: the cloudfront-viewer-latitude/-longitude headers. If they are missing or
//     garbled, use a representative point for cloudfront-viewer-country (ZONES). If that is unknown
//     too, there is no location.
//  2. Rank the regions by great-circle distance to that point. With no location, PRIMARY comes
//     first and the others follow in REGIONS order.
//  3. Choose the first region that is not drained. Drained means the associated KeyValueStore holds
//     key "drained:<region>" with the value "true" (trimmed, case-insensitive). A missing key,
//     any other value, or a KVS error all mean "serving" (fail open). If every region is drained,
//     choose the first-ranked region anyway, so at least one region always serves.
//  4. GET/HEAD/OPTIONS with two or more regions: cf.createRequestOriginGroup with the chosen region
//     first and the region ranked after it (wrapping round; drained or not, it is only the fallback)
//     second, failing over on 500/502/503/504. The argument has the form of the documentation's only
//     example: originIds as [{originId: ...}, {originId: ...}] objects (the prose says strings).
//     The docs do not say whether a per-request group works on a behaviour that also allows writes,
//     so if the call throws, use the single origin instead. A bad argument may not throw but fail
//     the request with a 502 (FunctionValidationErrors, alarmed): the KVS key "failover-groups" with
//     the value "off" turns groups off without a deploy (ecommerce edge failover-groups off).
//     Other methods, and single-region setups, get cf.selectRequestOriginById(chosen): CloudFront
//     never fails writes over, since retrying a write could apply it twice.
//  5. Set the request header x-edge-region: <chosen region>; the origin request policy forwards it,
//     so the API's access logs show the edge's choice. If selecting the origin fails, the
//     behaviour's default origin is kept and the header value is "default". The request itself
//     never fails.
// Geo headers reach the function only if the behaviour's origin request policy or cache policy
// includes them. Runtime limits: 10 KB of code, no timers, no network, no dynamic code. KVS reads
// run one after another with await (no promise combinators) and stop at the first serving region.
// Comment lines and indentation are stripped when the CDK code renders this file (edge_routing.py),
// so a comment never sits at the end of a code line.

const REGIONS = __REGIONS__;
const PRIMARY = __PRIMARY__;

// Country fallback: [lat, lon, ISO 3166-1 alpha-2 codes]. Each point is a rough population
// centre of its zone. It is only good enough to choose between regions far apart.
const ZONES = [
  [37.4, -92.2, 'US CA UM PM BM GL'],
  [19.4, -95, 'MX GT BZ SV HN NI CR PA CU JM HT DO PR BS TC KY VG VI AI AG KN MS GP MQ DM LC VC BB GD TT AW CW SX BQ BL MF'],
  [-15, -52, 'BR AR CL CO PE VE EC BO PY UY GY SR GF FK GS'],
  [52.5, -1.5, 'GB IM JE GG'],
  [53.3, -7.5, 'IE IS FO'],
  [47.5, 2.5, 'FR BE NL LU MC AD'],
  [40, -4, 'ES PT GI'],
  [50.5, 12, 'DE AT CH LI CZ PL SK HU SI HR DK'],
  [60, 20, 'NO SE FI AX SJ EE LV LT'],
  [42.5, 12.5, 'IT SM VA MT'],
  [46, 26, 'UA BY MD RO BG RS BA ME MK AL XK GR CY'],
  [55.7, 37.6, 'RU'],
  [40, 35, 'TR GE AM AZ'],
  [28, 45, 'SA AE QA KW BH OM YE IQ IR JO LB SY IL PS'],
  [28, 15, 'MA DZ TN LY EG EH SD'],
  [8, 8, 'NG GH CI SN ML BF NE TD CM GA CG CD CF GQ ST BJ TG LR SL GN GW GM MR CV AO'],
  [-3, 36, 'ET KE TZ UG RW BI SO DJ ER SS MG MU SC KM YT RE MW ZM MZ'],
  [-27, 26, 'ZA NA BW ZW LS SZ SH'],
  [23, 78, 'IN PK BD LK NP BT MV AF IO'],
  [43, 68, 'KZ UZ TM KG TJ'],
  [31, 114, 'CN HK MO TW MN'],
  [37.5, 127, 'KR KP'],
  [35.7, 139.7, 'JP'],
  [6, 110, 'SG MY ID TH VN PH MM KH LA BN TL'],
  [-31, 148, 'AU NZ PG FJ NC SB VU WS TO PF KI FM MH PW NR TV CK NU NF GU MP AS WF TK PN CX CC']
];

// Trimmed string value of a request header, or '' if the header is absent or malformed.
function headerValue(headers, name) {
  const h = headers[name];
  return h && typeof h.value === 'string' ? h.value.trim() : '';
}

// Plain decimal degrees within [-limit, limit], else NaN. This rejects '', '1e3', '0x1f', 'NaN'.
function degrees(text, limit) {
  if (!/^-?\d{1,3}(\.\d+)?$/.test(text)) return NaN;
  const v = parseFloat(text);
  return v >= -limit && v <= limit ? v : NaN;
}

function isCoordinate(v, limit) {
  return typeof v === 'number' && v >= -limit && v <= limit;
}

// The viewer's [lat, lon]: from the geo headers, else from the country's zone, else null.
function viewerPoint(headers) {
  const lat = degrees(headerValue(headers, 'cloudfront-viewer-latitude'), 90);
  const lon = degrees(headerValue(headers, 'cloudfront-viewer-longitude'), 180);
  if (!isNaN(lat) && !isNaN(lon)) return [lat, lon];
  const country = headerValue(headers, 'cloudfront-viewer-country').toUpperCase();
  if (/^[A-Z]{2}$/.test(country)) {
    for (let i = 0; i < ZONES.length; i++) {
      if ((' ' + ZONES[i][2] + ' ').indexOf(' ' + country + ' ') >= 0) return [ZONES[i][0], ZONES[i][1]];
    }
  }
  return null;
}

// Central angle between two [lat, lon] points in radians (haversine). It grows with distance.
function arc(a, b) {
  const r = Math.PI / 180;
  const s1 = Math.sin(((b[0] - a[0]) * r) / 2);
  const s2 = Math.sin(((b[1] - a[1]) * r) / 2);
  const h = s1 * s1 + Math.cos(a[0] * r) * Math.cos(b[0] * r) * s2 * s2;
  return 2 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// Region ids in order of preference. Ties keep REGIONS order. A region with bad coordinates
// ranks last (4 > pi).
function ranking(point) {
  const list = [];
  for (let i = 0; i < REGIONS.length; i++) {
    const r = REGIONS[i];
    if (!r || typeof r.id !== 'string' || !r.id) continue;
    let rank;
    if (!point) rank = r.id === PRIMARY ? 0 : 1;
    else rank = isCoordinate(r.lat, 90) && isCoordinate(r.lon, 180) ? arc(point, [r.lat, r.lon]) : 4;
    list.push({ id: r.id, rank: rank, i: i });
  }
  list.sort(function (a, b) {
    return a.rank - b.rank || a.i - b.i;
  });
  return list.map(function (e) {
    return e.id;
  });
}

// True only when the KVS marks the region drained. Every failure counts as "serving" (fail open).
async function isDrained(kvs, region) {
  if (!kvs) return false;
  const key = 'drained:' + region;
  try {
    const present = await kvs.exists(key);
    if (!present) return false;
    // get() throws for a missing key, so check exists() first
    const value = await kvs.get(key);
    return typeof value === 'string' && value.trim().toLowerCase() === 'true';
  } catch (e) {
    return false;
  }
}

// False only when the KVS key "failover-groups" is "off" (trimmed, any case); errors keep groups on.
async function groupsOn(kvs) {
  if (!kvs) return true;
  try {
    if (!(await kvs.exists('failover-groups'))) return true;
    const value = await kvs.get('failover-groups');
    return !(typeof value === 'string' && value.trim().toLowerCase() === 'off');
  } catch (e) {
    return true;
  }
}

// Methods an origin group can fail over; CloudFront never retries the others on another origin.
const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS'];

// Point this request at `nearest`; safe methods get `next` as the failover origin when there is one
// and groups are on.
function useOrigin(method, nearest, next, groups) {
  if (next && groups && SAFE_METHODS.indexOf(method) >= 0) {
    try {
      cf.createRequestOriginGroup({
        originIds: [{ originId: nearest }, { originId: next }],
        failoverCriteria: { statusCodes: [500, 502, 503, 504] }
      });
      return;
    } catch (e) {
      console.log('edge router: origin group refused, single origin: ' + e);
    }
  }
  cf.selectRequestOriginById(nearest);
}

async function handler(event) {
  const request = event.request;
  if (!request.headers) request.headers = {};
  const headers = request.headers;
  const method = typeof request.method === 'string' ? request.method.toUpperCase() : '';
  let chosen = '';
  try {
    const order = ranking(viewerPoint(headers));
    // Index of the chosen region; stays 0 (first-ranked) if every region is drained.
    let at = 0;
    // cf.kvs() throws when the function has no KeyValueStore: then every region is serving.
    let kvs = null;
    if (order.length > 1) {
      try {
        kvs = cf.kvs();
      } catch (e) {
        kvs = null;
      }
      // One KVS read per region, one after another, until the first serving region.
      for (let i = 0; i < order.length; i++) {
        const drained = await isDrained(kvs, order[i]);
        if (!drained) {
          at = i;
          break;
        }
      }
    }
    if (order.length) {
      chosen = order[at];
      const next = order.length > 1 ? order[(at + 1) % order.length] : '';
      const safe = SAFE_METHODS.indexOf(method) >= 0;
      useOrigin(method, chosen, next, next && safe ? await groupsOn(kvs) : false);
    }
  } catch (e) {
    // Never fail the request. The behaviour's default origin serves it.
    console.log('edge router: default origin kept: ' + e);
    chosen = '';
  }
  headers['x-edge-region'] = { value: chosen || 'default' };
  return request;
}
