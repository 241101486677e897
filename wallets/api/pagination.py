"""Page-number pagination whose `count` stays cheap on the ledger's millions of rows.

An exact COUNT(*) of ten million ledger rows (or of the two million of one provider) costs
hundreds of milliseconds on every list page, more than the page itself. So a count is exact up
to EXACT_COUNT_LIMIT matching rows (counted with a LIMIT, so it never reads further); past that
it is PostgreSQL's planner estimate (never less than the limit + 1), and flagged as such: the
API sends `X-Count-Estimated: true`, the paginator has `count_is_estimate`. The response keeps
DRF's page-number shape (`count`, `next`, `previous`, `results`). The admin changelists of the
large tables use the same paginator (wallets.admin).
"""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination

# Up to this many matching rows the count is exact.
EXACT_COUNT_LIMIT = 10_000
ESTIMATE_HEADER = "X-Count-Estimated"


def planner_estimate(queryset: QuerySet) -> int:
    """The rows PostgreSQL's planner expects `queryset` to return (EXPLAIN; nothing is read)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def lean_count(object_list, limit: int | None = None) -> tuple[int, bool]:
    """(count, is_estimate): exact up to `limit` (default EXACT_COUNT_LIMIT) rows, the
    planner's estimate past it."""
    limit = EXACT_COUNT_LIMIT if limit is None else limit
    if not isinstance(object_list, QuerySet):
        return len(object_list), False
    counted = object_list.order_by()[: limit + 1].count()
    if counted <= limit:
        return counted, False
    return max(planner_estimate(object_list), limit + 1), True


class LeanCountPaginator(Paginator):
    """Django's paginator with `lean_count`: past EXACT_COUNT_LIMIT rows, `count` (and so the
    number of pages) is an estimate and `count_is_estimate` is True. A page past the real end
    is empty (the admin and DRF then answer as for any page out of range)."""

    count_is_estimate = False

    @cached_property
    def count(self) -> int:
        count, self.count_is_estimate = lean_count(self.object_list)
        return count


class StaffPagination(PageNumberPagination):
    """DRF's page-number pages (`count`, `next`, `previous`, `results`) of PAGE_SIZE rows;
    `?page_size=` asks for another size, up to `max_page_size`. `count` is exact up to
    EXACT_COUNT_LIMIT rows, an estimate past it (header X-Count-Estimated: true)."""

    page_size_query_param = "page_size"
    max_page_size = 500
    django_paginator_class = LeanCountPaginator

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        if self.page.paginator.count_is_estimate:
            response[ESTIMATE_HEADER] = "true"
        return response
