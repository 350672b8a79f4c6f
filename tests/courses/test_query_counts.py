"""Queries per request do not grow with the data (SPEC §10), on small sizes.

bench/data_growth.py runs the same scenarios at full size and prints timings;
this test only compares counts, which do not depend on the machine's speed.
"""

from __future__ import annotations

from bench.data_growth import Sizes, run


def test_query_counts_stay_flat(document_store):
    sizes = Sizes(courses=(3, 60), lessons=(2, 120), enrolments=(1, 25), learners=20)
    results = run(document_store, repeat=2, sizes=sizes, quiet=True)
    assert len(results) == 8
    for small, large in zip(results[::2], results[1::2], strict=True):
        assert (small.sql, small.documents) == (large.sql, large.documents), small.scenario
        assert small.sql <= 2 and small.documents <= 5, small
