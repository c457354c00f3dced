"""Operator tools for a deployed shop: the ``ecommerce`` command (``pip install
'ecommerce-constructs[ops]'``).

``ecommerce outputs``, ``smoke``, ``edge drain|restore|status|rotate-origin-secret``, ``migrate``,
``stock-buckets`` and ``dsql-lint``. They run the Lambda code, which ships as data inside
``ecommerce_constructs``, by path (:mod:`ecommerce_ops._handlers`).
"""

from ecommerce_ops._handlers import use_handlers

# Every module here may import ``handlers`` (the Lambda code, by path: ecommerce_ops._handlers).
use_handlers()
