"""The shop: domain rules (``domain``), use cases (``services``) and all SQL (``repository``)."""
