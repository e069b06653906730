import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# Gateways' token polls of the routing table are answered in front of Django when this process already holds
# the answer; everything else goes to Django (see the module).
from rollouts.runs.api.routing_poll import RoutingPolls  # noqa: E402 - needs the apps loaded

application = RoutingPolls(django_application)
