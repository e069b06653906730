"""The run engine's reactions to registry events, and the gateway token cache's to token and user changes;
connected in RolloutsConfig.ready."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from rollouts.registry.signals import deployment_recorded
from rollouts.runs.gateway_tokens import forget_after_commit
from rollouts.runs.routing import routing_publish


@receiver(deployment_recorded)
def routing_follows_deployment(sender, *, event, **_kwargs) -> None:
    """Gateways read the materialised routing table; keep it in step with what is now live."""
    routing_publish(event.environment)


@receiver(post_delete, sender=Token)
@receiver(post_delete, sender=get_user_model())
def gateway_tokens_forgotten_on_delete(sender, **_kwargs) -> None:
    """A revoked token or a removed user stops reading routing tables in every web process."""
    forget_after_commit()


@receiver(post_save, sender=get_user_model())
def gateway_tokens_forgotten_on_user_change(sender, created=False, update_fields=None, **_kwargs) -> None:
    """A deactivated user, or one whose role changed, is looked up again; a new user has no token remembered,
    and a login (last_login only) is not a change of access."""
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    forget_after_commit()
