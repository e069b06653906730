import os as _os
import secrets as _secrets

# Benchmarks run with DEBUG off, where the published development key is refused; every process a benchmark
# starts (seeders, web servers, workers) inherits this one.
_os.environ.setdefault("SECRET_KEY", _secrets.token_urlsafe(50))
