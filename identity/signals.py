"""Site user changes reach the application's provisioner without waiting for the next cycle."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

User = get_user_model()


def _sync_soon() -> None:
    from identity.provisioning import provisioning_enabled
    from identity.services import provisioning_sync_soon

    if provisioning_enabled():
        provisioning_sync_soon()


@receiver(post_save, sender=User, dispatch_uid="console_user_saved")
def user_saved(sender, instance, created, update_fields=None, raw=False, **kwargs):
    # Every admin sign-in saves last_login; that changes nothing the app is told.
    if raw or (update_fields and set(update_fields) <= {"last_login"}):
        return
    _sync_soon()


@receiver(post_delete, sender=User, dispatch_uid="console_user_deleted")
def user_deleted(sender, instance, **kwargs):
    _sync_soon()
