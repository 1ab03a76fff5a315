from monitoring.tests.fixtures import busy_client  # noqa: F401 (fixture)
