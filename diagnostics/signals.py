"""Events of a layer diagnosis that apps above diagnostics act on: the incident timeline shows each owner
change, verdict and piece of evidence, and diagnostics does not import incidents."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the change's transaction with diagnosis, kind ("owner", "verdict" or "evidence"), text, actor, data.
layer_changed = Signal()
