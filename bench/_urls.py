from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from config.urls import urlpatterns as project_urls


@require_GET
def bare_json(request):
    """The floor: the same middleware stack, no auth, no database, a small JSON body."""
    return JsonResponse({"ok": True, "releases": [{"release": 1, "weight": 100}]})


urlpatterns = [path("bench/bare-json", bare_json), *project_urls]
