"""What the edge's routing function needs to know: where each region is, and the function's code.

The viewer-request CloudFront Function (``edge/router.js``) ranks regions by great-circle distance
to the viewer; it carries the coordinates of the deployment's regions, substituted here at synth
time (CloudFront Functions have no environment variables). ``make dev``'s local edge renders the
same code the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources

from .regions import DSQL_REGIONS

#: Approximate location of each region's data centres (the metro area AWS names), degrees.
#: Precision beyond ~50 km changes no routing decision between regions hundreds of km apart.
REGION_COORDINATES: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4),  # Northern Virginia
    "us-east-2": (40.0, -83.0),  # Ohio
    "us-west-2": (45.8, -119.7),  # Oregon
    "ca-central-1": (45.5, -73.6),  # Montréal
    "ca-west-1": (51.0, -114.1),  # Calgary
    "sa-east-1": (-23.5, -46.6),  # São Paulo
    "eu-west-1": (53.3, -6.3),  # Dublin
    "eu-west-2": (51.5, -0.1),  # London
    "eu-west-3": (48.9, 2.4),  # Paris
    "eu-central-1": (50.1, 8.7),  # Frankfurt
    "eu-north-1": (59.3, 18.1),  # Stockholm
    "eu-south-2": (41.6, -0.9),  # Aragón
    "ap-east-1": (22.3, 114.2),  # Hong Kong
    "ap-south-1": (19.1, 72.9),  # Mumbai
    "ap-southeast-1": (1.35, 103.8),  # Singapore
    "ap-southeast-2": (-33.9, 151.2),  # Sydney
    "ap-southeast-4": (-37.8, 145.0),  # Melbourne
    "ap-northeast-1": (35.7, 139.7),  # Tokyo
    "ap-northeast-2": (37.6, 127.0),  # Seoul
    "ap-northeast-3": (34.7, 135.5),  # Osaka
}
assert set(REGION_COORDINATES) >= DSQL_REGIONS, "every DSQL region needs coordinates for edge routing"

#: CloudFront Functions' code size limit (bytes of the function code).
FUNCTION_SIZE_LIMIT = 10_240
#: What the rendered router may use of it: room left for more regions and later changes.
ROUTER_SIZE_BUDGET = 6_144


def strip_comments(code: str) -> str:
    """``code`` without comment lines, blank lines and indentation: router.js keeps comments on
    their own lines (never after code), so this is safe without a JavaScript parser. The first line
    (``import cf from 'cloudfront';``, which CloudFront wants first) stays."""
    first, *rest = code.split("\n")
    kept = [line.strip() for line in rest if line.strip() and not line.strip().startswith("//")]
    return "\n".join([first, *kept]) + "\n"


def router_source() -> str:
    """router.js exactly as shipped, placeholders included."""
    return resources.files("ecommerce_constructs.edge").joinpath("router.js").read_text(encoding="utf-8")


def render_router(regions: Sequence[str], primary: str) -> str:
    """router.js with this deployment's regions (in order) and primary region substituted, comments
    stripped (:func:`strip_comments`); fails if it exceeds ``ROUTER_SIZE_BUDGET``."""
    if primary not in regions:
        raise ValueError(f"primary region {primary!r} is not one of {list(regions)}")
    unknown = [region for region in regions if region not in REGION_COORDINATES]
    if unknown:
        raise ValueError(f"no coordinates for {unknown}: add them to REGION_COORDINATES")
    table = [
        {"id": region, "lat": REGION_COORDINATES[region][0], "lon": REGION_COORDINATES[region][1]}
        for region in regions
    ]
    code = router_source()
    for token, value in (("__REGIONS__", table), ("__PRIMARY__", primary)):
        if code.count(token) != 1:
            raise ValueError(f"router.js must contain {token} exactly once")
        code = code.replace(token, json.dumps(value, separators=(",", ":")))
    code = strip_comments(code)
    size = len(code.encode("utf-8"))
    if size > ROUTER_SIZE_BUDGET:
        raise ValueError(
            f"the rendered router is {size} bytes, over its budget of {ROUTER_SIZE_BUDGET} "
            f"(CloudFront Functions allow {FUNCTION_SIZE_LIMIT}); shorten router.js"
        )
    return code
