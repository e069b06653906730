#!/usr/bin/env bash
# Installs (via make) and runs the whole test suite. Uses PostgreSQL and Redis on 127.0.0.1 when they
# answer; falls back to SQLite and the filesystem broker otherwise, unless REWIND_REQUIRE_SERVICES=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

answers() { $PY - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

if [ -z "${DATABASE_URL:-}" ] && answers 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/${REWIND_DB_NAME:-rewind}"
fi
if [ -z "${REDIS_URL:-}" ] && answers 127.0.0.1 6379; then
  export REDIS_URL="redis://127.0.0.1:6379/${REWIND_REDIS_DB:-0}"
fi
if [ "${REWIND_REQUIRE_SERVICES:-0}" = "1" ]; then
  case "${DATABASE_URL:-}" in postgres*) ;; *) echo "PostgreSQL is required but does not answer on 127.0.0.1:5432" >&2; exit 1;; esac
  [ -n "${REDIS_URL:-}" ] || { echo "Redis is required but does not answer on 127.0.0.1:6379" >&2; exit 1; }
fi
# Debian packages that tests drive: chromium (browser tests), prometheus and prometheus-alertmanager (alerts end
# to end). Installed when missing; without them those tests skip, unless CI requires them.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium chromium-driver)
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian ${missing[*]} for the tests…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "${missing[*]} could not be installed; the tests needing them will be skipped" >&2
fi
export CELERY_QUEUE="rewind-test-$$"
# Tests run with DEBUG off, where the development key is refused: a fresh random key per run (workers inherit it).
export SECRET_KEY="${SECRET_KEY:-$($PY -c 'import secrets; print(secrets.token_urlsafe(50))')}"
export REWIND_VAR_DIR="${REWIND_VAR_DIR:-$PWD/var/test}"
mkdir -p "$REWIND_VAR_DIR"
echo "database: ${DATABASE_URL:-sqlite (embedded)}  broker: ${REDIS_URL:-filesystem (embedded)}"

.venv/bin/ruff check .
# Import direction between apps and sub-packages (contracts in pyproject.toml).
.venv/bin/lint-imports --no-cache >/dev/null || { .venv/bin/lint-imports --no-cache; exit 1; }
DATABASE_URL=sqlite:// $PY manage.py makemigrations --check --dry-run >/dev/null || { echo "Model changes without migrations" >&2; exit 1; }
$PY manage.py spectacular --validate --fail-on-warn --file "$REWIND_VAR_DIR/schema.yml"
# pytest exits 5 when it collected no tests: that is a failure too (set -e).
$PY -m pytest "$@"
