"""A list filter that applies a published attention list's selector (wallets.hooks
.attention_lists): the admin home panel counts the same selector's rows, so the count on a
card and the rows on the page it links to cannot differ."""

from django.contrib import admin


def attention_filter(*, parameter: str, title: str, choice: str, selector):
    """A SimpleListFilter class: `?<parameter>=yes` shows `selector(queryset)`."""

    class AttentionFilter(admin.SimpleListFilter):
        parameter_name = parameter

        def lookups(self, request, model_admin):
            return [("yes", choice)]

        def queryset(self, request, queryset):
            if self.value() == "yes":
                return selector(queryset)
            return queryset

    AttentionFilter.title = title
    AttentionFilter.__name__ = f"{parameter.title().replace('_', '')}Filter"
    return AttentionFilter
