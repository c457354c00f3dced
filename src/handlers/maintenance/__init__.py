"""Scheduled maintenance of the shop's tables: the pruning job (``prune``: routing, ``domain``:
batches and budget, ``repository``: every SQL statement)."""
