from rest_framework.pagination import PageNumberPagination


class StaffPagination(PageNumberPagination):
    """DRF's page-number pages (`count`, `next`, `previous`, `results`) of PAGE_SIZE rows;
    `?page_size=` asks for another size, up to `max_page_size`."""

    page_size_query_param = "page_size"
    max_page_size = 500
