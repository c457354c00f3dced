from ecommerce_constructs.testing import template_snapshot  # noqa: F401 - fixture
