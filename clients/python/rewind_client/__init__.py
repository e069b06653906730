"""Gateway-side client for Rewind (standard library only).

* :class:`RoutingClient` polls ``/api/v1/routing/<feature>/<environment>`` with ``If-None-Match`` and keeps the
  last table, so an unchanged table costs a 304 and a failed poll keeps serving the last good one.
* :func:`release_for` picks the release for a request key with the same consistent hash the server publishes in
  the table's ``assignment`` block.
* :class:`ObservationBatcher` queues per-request observations, posts them in batches from a background thread,
  retries with back-off on 429/5xx/connection errors, and pushes back (``add`` returns False) when its queue is
  full instead of growing without bound.
"""

from rewind_client.assignment import BUCKETS, bucket_of, release_for
from rewind_client.observations import ObservationBatcher
from rewind_client.routing import RoutingClient, RoutingTable

__all__ = ["BUCKETS", "ObservationBatcher", "RoutingClient", "RoutingTable", "bucket_of", "release_for"]
