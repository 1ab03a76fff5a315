from monitoring.handling.tests.helpers import webhook_receiver  # noqa: F401 (fixture)
