from datetime import timedelta

from django.tasks import task

from integration_site.schedule import periodic


# Viewer tokens are dead RETRACED_VIEWER_TOKEN_SECONDS after minting and revocations after a
# session's length; an hourly sweep keeps both tables to about an hour's worth.
@periodic(every=timedelta(hours=1))
@task()
def retraced_viewer_access_purge() -> int:
    """Delete expired viewer tokens and stale session revocations."""
    from audits.retraced.viewer_services import viewer_access_purge

    return viewer_access_purge()
