"""Leases of rate-limit points (service/access/rate_lease.py): what a worker admits without a
write must add up to what charging each request on its own would have."""

from __future__ import annotations

import pytest

from service.access import rate_lease
from service.access.rate_lease import Leases

CAPACITY = 10_000.0
RATE = 0.0  # no drain: the arithmetic is exact


def test_a_lease_is_a_share_of_the_bucket_and_never_less_than_the_request():
    assert Leases.points_to_charge(2, CAPACITY) == 100  # 1 % of the bucket
    assert Leases.points_to_charge(2, 1e12) == 100  # 50 requests' worth at most
    assert Leases.points_to_charge(2, 7) == 2  # a small bucket: each request charged alone
    assert Leases.points_to_charge(500, CAPACITY) == 500


def test_requests_on_a_lease_report_what_charging_each_would_have():
    leases = Leases()
    assert leases.take("k", 2, capacity=CAPACITY, restore_rate=RATE) is None  # nothing leased yet
    # The bucket was empty; the charge of 100 points left it at 100.
    first = leases.charged("k", level=100, points=100, cost=2, capacity=CAPACITY, restore_rate=RATE)
    assert first.available == CAPACITY - 2
    for n in range(2, 51):
        throttle = leases.take("k", 2, capacity=CAPACITY, restore_rate=RATE)
        assert throttle is not None and throttle.available == CAPACITY - 2 * n
    assert leases.take("k", 2, capacity=CAPACITY, restore_rate=RATE) is None  # spent: charge again
    assert leases.give_back("k") == 0


def test_an_ended_lease_gives_its_unused_points_back_once(monkeypatch):
    leases = Leases()
    leases.charged("k", level=100, points=100, cost=2, capacity=CAPACITY, restore_rate=RATE)
    monkeypatch.setattr(rate_lease, "LEASE_SECONDS", 0.0)
    leases.charged("other", level=100, points=100, cost=2, capacity=CAPACITY, restore_rate=RATE)
    assert leases.take("other", 2, capacity=CAPACITY, restore_rate=RATE) is None  # ended
    assert leases.give_back("other") == 98
    assert leases.give_back("other") == 0  # not twice (two concurrent charges)
    # A refused charge gave nothing back: the points are still this worker's, and paid for.
    leases.put_back("other", 98)
    assert leases.take("other", 2, capacity=CAPACITY, restore_rate=RATE) is None
    paid = leases.take("other", 2, capacity=CAPACITY, restore_rate=RATE, ended_too=True)
    assert paid is not None and paid.available == CAPACITY - 4
    # The other key's lease is untouched.
    assert leases.take("k", 2, capacity=CAPACITY, restore_rate=RATE) is not None


def test_the_drain_since_the_charge_counts(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(rate_lease, "monotonic", lambda: clock[0])
    leases = Leases()
    leases.charged("k", level=600, points=100, cost=2, capacity=CAPACITY, restore_rate=100)
    clock[0] += 0.5  # 50 points drained
    throttle = leases.take("k", 2, capacity=CAPACITY, restore_rate=100)
    assert throttle is not None
    assert throttle.available == pytest.approx(CAPACITY - (600 - 50) + 96)


def test_the_least_recently_used_lease_goes_first():
    leases = Leases(size=2)
    for key in ("a", "b", "c"):
        leases.charged(key, level=100, points=100, cost=2, capacity=CAPACITY, restore_rate=RATE)
    assert leases.give_back("a") == 0  # forfeited (the bucket's drain restores it)
    assert leases.give_back("c") == 98
