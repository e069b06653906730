#!/usr/bin/env bash
# Runs Rewind on its embedded default: SQLite in ./var, Celery's filesystem broker, one worker with beat
# started alongside the web server, demo data loaded. No server needed. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DEBUG="${DEBUG:-1}"
mkdir -p var
$PY manage.py migrate --noinput -v0
$PY manage.py demo_data
.venv/bin/celery -A config worker --beat -l info --concurrency 2 \
  --schedule var/celerybeat-schedule >var/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
echo "Celery worker + beat running (pid $worker, log var/worker.log)"
echo "Rewind on http://127.0.0.1:8000  — log in as demo / demo-rewind (admin), or see README for other demo users"
$PY manage.py runserver 127.0.0.1:8000
