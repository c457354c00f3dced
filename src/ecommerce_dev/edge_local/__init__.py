"""The local CloudFront stand-in of ``make dev``: ``server.mjs`` runs the deployed viewer-request function
(``ecommerce_constructs/edge/router.js``) in Node.js and proxies to the simulated regions.

Python starts it through ``ecommerce_dev.devserver.edge.start_local_edge``; this package only carries
the script (a package so the wheel ships it as package data).
"""
