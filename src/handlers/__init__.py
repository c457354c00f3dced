"""Lambda handlers and the database layer of the e-commerce backend (what each Lambda asset runs).

Nothing in this package imports aws_cdk: it is bundled into the Lambda asset as is.
"""

__version__ = "0.1.0"
