from monitoring.tests.fixtures import busy_client  # noqa: F401 (fixture)
from monitoring.tests.rabbitmq import agent, broker_down, no_publisher, transport  # noqa: F401
