"""The benchmark's WSGI entry point: Django as production serves it, plus the floor any Python web app stands on
(a minimal WSGI callable answering a fixed JSON body) at /bench/wsgi-floor, in the same gunicorn workers."""

from config.wsgi import application as django_application

BODY = b'{"ok": true, "releases": [{"release": 1, "weight": 100}]}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/bench/wsgi-floor":
        start_response("200 OK", HEADERS)
        return [BODY]
    return django_application(environ, start_response)
