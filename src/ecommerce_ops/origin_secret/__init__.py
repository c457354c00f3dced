"""``ecommerce edge rotate-origin-secret`` and ``ecommerce edge check-origin``: the secret header that
proves a request came through CloudFront, and its zero-downtime rotation.

CloudFront adds ``X-Origin-Verify: <secret>`` to every origin request; each region's web ACL blocks
requests without it. The templates carry only ``{{resolve:secretsmanager:...:AWSCURRENT}}``
references, which CloudFormation resolves only when it updates the resource, so rotation writes the
live resources itself. The new value becomes ``AWSCURRENT`` only after every web ACL accepts it and
CloudFront sends it, so neither a deploy (which resolves ``AWSCURRENT``) nor an edge health checker
(which tries ``AWSCURRENT``, then ``AWSPREVIOUS``) ever uses a value a web ACL refuses:

1. stage a new value as ``AWSPENDING`` on the primary secret (``PutSecretValue`` with
   ``VersionStages=["AWSPENDING"]`` and a ``ClientRequestToken``, which attaches only that label:
   https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html);
2. report which replicas (the other serving regions, the witness, us-east-1) already show it —
   advisory only: nothing reads ``AWSPENDING`` from a replica, and that replicas carry labels
   other than ``AWSCURRENT`` is not documented, so nothing waits or fails on it;
3. every web ACL accepts [new, current];
4. wait for WAF propagation;
5. CloudFront sends new;
6. wait until the distribution is Deployed (no edge location sends the current value any more);
7. promote: ``UpdateSecretVersionStage`` moves ``AWSCURRENT`` to the new version, and Secrets Manager
   moves ``AWSPREVIOUS`` to the old one
   (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html);
8. wait until every replica serves the new value as ``AWSCURRENT`` (a checker there reads it);
9. read the distribution again: an edge-stack deploy after step 5 that resolved ``AWSCURRENT``
   before step 7 put CloudFront back on the old value; unless every origin carrying the header
   sends the new value and the distribution is Deployed, redo steps 5-6; then every web ACL accepts
   only the new value (what a deploy of the templates now gives);
10. remove ``AWSPENDING`` from the new version (the rotation is over);
11. probe each regional API with the new header.

A run that stops midway is continued by running the command again: an ``AWSPENDING`` version that
is not ``AWSCURRENT`` is a staged rotation (continued from step 2 with the same value, each step
skipping what the live state shows done), an ``AWSPENDING`` label on ``AWSCURRENT`` a promoted one
(continued from the first step not done). Between steps 1 and 10 do not deploy the regional stacks: a
deploy writes ``[AWSCURRENT, AWSCURRENT]`` into the web ACL (the command can be re-run afterwards).

Secret values are never printed, logged or put into exception messages (every line is redacted).
"""

from __future__ import annotations

from ._errors import OriginSecretError as OriginSecretError
from ._errors import RotationIncomplete as RotationIncomplete
from ._errors import RotationRefused as RotationRefused
from ._rotation import (
    RotationReport as RotationReport,
)
from ._rotation import (
    check_origin_protection as check_origin_protection,
)
from ._rotation import (
    rotate_origin_secret as rotate_origin_secret,
)
from ._rotation import (
    rotation_status as rotation_status,
)
from .commands import check_origin_command as check_origin_command
from .commands import rotate_origin_secret_command as rotate_origin_secret_command
