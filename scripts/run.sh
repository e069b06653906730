#!/usr/bin/env bash
# Runs Rewind on its embedded default: SQLite in ./var, a SQLite-file broker (kombu's SQLAlchemy transport),
# one supervised worker with beat (restarted when it dies) alongside the web server, demo data loaded.
# No server needed. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DEBUG="${DEBUG:-1}"
mkdir -p var
$PY manage.py migrate --noinput -v0
$PY manage.py demo_data
$PY manage.py run_worker --log var/worker.log &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
echo "Rewind on http://127.0.0.1:8000  — log in as demo / demo-rewind (admin), or see README for other demo users"
echo "Health: http://127.0.0.1:8000/healthz (503 with the reason while no worker runs or the broker does not answer)"
$PY manage.py runserver 127.0.0.1:8000
