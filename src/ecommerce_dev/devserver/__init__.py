"""The local runtime behind ``ecommerce dev``: the Lambda entry points served over HTTP per region.

One process: the embedded PostgreSQL (through the DSQL guard), then one uvicorn server per
simulated region on 127.0.0.1, all in one asyncio loop. Each HTTP request becomes an API Gateway
REST proxy event (``ecommerce_dev.apigw``) for the same handler code Lambda runs.

Modules by concern: ``options`` (what to run), ``lock`` (one runtime per data dir, reset),
``regions`` (simulated execution environments), ``app`` (HTTP), ``banner`` (what is printed),
``signals`` and ``process`` (start, serve, stop).
"""

from .banner import TRY_IT_HEADER, banner, curl_commands
from .lock import DevLock, reset
from .options import DevError, DevOptions
from .process import bind, run

__all__ = [
    "TRY_IT_HEADER",
    "DevError",
    "DevLock",
    "DevOptions",
    "banner",
    "bind",
    "curl_commands",
    "reset",
    "run",
]
