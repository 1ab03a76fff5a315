from django.db.utils import DatabaseError
from django.urls import reverse

from integration_site.dashboard import Panel


def provisioning_panel(request) -> Panel | None:
    """The provisioning state on the admin front page, once a provisioner is configured."""
    from identity.models import SyncState
    from identity.provisioning import provisioner_url, provisioning_enabled
    from identity.selectors import provisioner_settings, provisioning_outbox_pending

    try:
        config = provisioner_settings()
    except DatabaseError:
        return None
    if not provisioning_enabled(config):
        return None
    paused = config.state == SyncState.PAUSED
    return Panel(
        title="Provisioning",
        rows=[
            ("Provisioner", provisioner_url(config), ""),
            ("State", config.get_state_display(), "severity-warning" if paused else "severity-ok"),
            (
                "Last sync",
                f"{config.last_sync_at:%Y-%m-%d %H:%M:%S} UTC" if config.last_sync_at else "never",
                "",
            ),
            ("Pending changes", str(provisioning_outbox_pending().count()), ""),
        ],
        message=f"Sync paused: {config.last_error[:300]}" if paused else "",
        severity="warning" if paused else "info",
        link=reverse("admin:console_provisionersettings_changelist"),
    )
