"""Background work for provisioning, run by `manage.py worker`."""

import logging
from datetime import timedelta

from django.tasks import task

from audits.context import audit_context
from integration_site.schedule import periodic

logger = logging.getLogger(__name__)


# Every minute: picks up directory changes (LDAP has no push here) and retries a paused
# outbox. Site user changes also enqueue a run straight away (see signals.py).
@periodic(every=timedelta(minutes=1))
@task()
def provisioning_sync() -> str:
    from identity.provisioning import provisioning_sync_run

    with audit_context():
        outcome = provisioning_sync_run()
    logger.info("provisioning sync: %s", outcome)
    return outcome
