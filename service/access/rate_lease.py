"""Rate-limit points a worker process has already charged in PostgreSQL and not yet used.

The bucket lives in PostgreSQL (service/access/rate_limit.py), shared by every worker. Charging
it for every request writes its row every time, and every anonymous caller behind one address
shares that row: under load the requests queue on its lock, and each write is WAL. For ready
reads (graphql_schema/ready.py) a worker instead charges a batch of points at once, a lease,
and admits its next requests of that caller against it without a write.

Why the limit still holds across workers: the bucket counts the whole lease as spent the
moment it is charged, in the same atomic check-and-charge as any request. So no caller is
ever admitted beyond its bucket, however many workers hold leases. What a worker has not used
when its lease ends (after `LEASE_SECONDS`) it gives back in its next charge for that caller.

What it costs: a lease is at most `LEASE_SHARE` of the bucket and `LEASE_REQUESTS` requests'
worth. A caller whose other worker holds unused points may be refused that much early, and
a worker that exits forfeits its unused points (restored by the bucket's own drain). The
`throttleStatus` of a ready read is the bucket as of the lease's charge less what ready reads
used since: charges made elsewhere meanwhile (other workers, the caller's requests that went
the usual way) show from the next charge on, at most `LEASE_SECONDS` later. A bucket too small
for more than one request per lease is charged per request, exactly as before.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from time import monotonic

from service.access.rate_limit import Throttle

LEASE_SECONDS = 1.0
LEASE_SHARE = 0.01  # of the bucket's capacity
LEASE_REQUESTS = 50  # requests' worth of the cost at hand


@dataclass
class Lease:
    remaining: float = 0.0  # points charged and not yet used
    level: float = 0.0  # the bucket's level in PostgreSQL just after the last charge
    charged_at: float = 0.0  # time.monotonic() of that charge
    ends_at: float = 0.0


class Leases:
    """This process's leases, per bucket key, least recently used out."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._leases: OrderedDict[str, Lease] = OrderedDict()

    @staticmethod
    def points_to_charge(cost: float, capacity: float) -> float:
        """The lease to charge for a request of `cost` (never less than the request itself)."""
        return max(cost, min(capacity * LEASE_SHARE, cost * LEASE_REQUESTS))

    def take(
        self, key: str, cost: float, *, capacity: float, restore_rate: float, ended_too: bool = False
    ) -> Throttle | None:
        """Admit a request of `cost` from the caller's lease, or None if it needs a charge.
        `ended_too`: an ended lease's points serve too (they are paid for), when a new
        charge was refused."""
        lease = self._leases.get(key)
        now = monotonic()
        if lease is None or lease.remaining < cost or (now >= lease.ends_at and not ended_too):
            return None
        lease.remaining -= cost
        return _status(lease, now, capacity=capacity, restore_rate=restore_rate)

    def give_back(self, key: str) -> float:
        """The unused points to return with the charge about to be made; they leave the lease
        now, so that two concurrent charges never return the same points twice."""
        lease = self._leases.get(key)
        if lease is None:
            return 0.0
        returned, lease.remaining = lease.remaining, 0.0
        return returned

    def put_back(self, key: str, points: float) -> None:
        """Points this worker still holds after all: the charge that was to give them back did
        not happen (refused or failed), or the request they paid for was not answered here
        (it goes the usual way, which charges it again)."""
        if points:
            self._lease(key).remaining += points

    def charged(
        self, key: str, *, level: float, points: float, cost: float, capacity: float, restore_rate: float
    ) -> Throttle:
        """A charge of `points` left the bucket at `level`; this request uses `cost` of them."""
        lease = self._lease(key)
        now = monotonic()
        lease.remaining += points - cost
        lease.level = level
        lease.charged_at = now
        lease.ends_at = now + LEASE_SECONDS
        return _status(lease, now, capacity=capacity, restore_rate=restore_rate)

    def clear(self) -> None:
        self._leases.clear()

    def _lease(self, key: str) -> Lease:
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = Lease()
            if len(self._leases) > self.size:
                self._leases.popitem(last=False)
        else:
            self._leases.move_to_end(key)
        return lease


def _status(lease: Lease, now: float, *, capacity: float, restore_rate: float) -> Throttle:
    """The bucket as if each request had been charged on its own: the level PostgreSQL
    reported, drained since, less what is leased and still unused."""
    level = max(0.0, lease.level - restore_rate * (now - lease.charged_at))
    return Throttle(True, capacity, min(capacity, max(0.0, capacity - level + lease.remaining)), restore_rate)
