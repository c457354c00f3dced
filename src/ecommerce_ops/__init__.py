"""Operator tools for a deployed shop: the ``ecommerce`` command (``pip install
'ecommerce-constructs[ops]'``).

``ecommerce outputs``, ``smoke``, ``edge drain|restore|status|rotate-origin-secret``, ``migrate``,
``stock-buckets`` and ``dsql-lint``. They run the Lambda code, which ships as data inside
``ecommerce_constructs``, by path (:mod:`ecommerce_ops._handlers`): the command does that for its
own process, and so do the modules that need it on import (``deployment``, ``edge``,
``origin_secret``). Importing the rest (``dsql_rules``, ``lint``, ``smoke``) leaves a user's own
``handlers`` package alone.
"""
