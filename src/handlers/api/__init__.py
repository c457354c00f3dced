"""API Gateway REST proxy handlers. Entry points: ``handlers.contract.FUNCTIONS``; which function
serves which operation is ``handlers.contract.ROUTES``."""
