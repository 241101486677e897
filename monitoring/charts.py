"""Server-side SVG line charts for the dashboard: no JavaScript library, no CDN. Labels are
escaped; the markup is built here and marked safe once."""

from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = ("#1565c0", "#ef6c00", "#c62828", "#2e7d32", "#6a1b9a")


def _fmt(value: float) -> str:
    """An axis label: small figures keep two significant digits, so an axis of a tiny error
    rate never reads 0.00 beside a non-zero line."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if 0 < value < 0.1:
        return f"{value:.2g}"
    return f"{value:.2f}"


def _segments(points: list[float | None], xy) -> list[list[str]]:
    """Runs of consecutive values as lists of "x,y" (a gap, None, breaks the line)."""
    segments, current = [], []
    for i, v in enumerate(points):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(xy(i, v))
    if current:
        segments.append(current)
    return segments


def line_chart(
    *,
    times: list[datetime],
    series: list[tuple[str, list[float | None]]],
    unit: str = "",
    width: int = 720,
    height: int = 200,
    threshold: float | None = None,
    partial_last: str = "",
    time_format: str = "%Y-%m-%d %H:%M",
) -> SafeString | None:
    """An SVG line chart, or None when no series has a value (the page shows an empty state).
    Gaps (None) break the line rather than drawing zero. With `partial_last` (a label such as
    "partial: 3 of 6 min"), the last point is a bin still filling: it is drawn dashed and
    lighter, joined to the point before it, and labelled, never as a solid drop. Negative
    values (a day's revenue can be) extend the axis below zero, with the zero line drawn."""
    # Pixel geometry only: figures arrive exact (Decimal for stored gauges) and are scaled here.
    series = [
        (label, [None if v is None else float(v) for v in points]) for label, points in series
    ]
    threshold = None if threshold is None else float(threshold)
    values = [v for _, points in series for v in points if v is not None]
    if not values or len(times) < 2:
        return None
    left, right, top, bottom = 56, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    floor = min([*values, 0]) * 1.1
    ceiling = max([*values, threshold or 0, 0]) * 1.1 or (0.0 if floor else 1.0)
    n = len(times)

    def x(i: int) -> float:
        return left + plot_w * i / (n - 1)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - floor) / (ceiling - floor))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pitboss-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    if floor:
        parts.append(
            f'<line class="zero" x1="{left}" x2="{left + plot_w}" y1="{y(0):.1f}" '
            f'y2="{y(0):.1f}" stroke="#999"/>'
        )
    for fraction in (0, 0.5, 1):
        v = floor + (ceiling - floor) * fraction
        parts.append(
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#555">{escape(_fmt(v))}{escape(unit)}</text>'
        )
    for i, anchor in ((0, "start"), (n - 1, "end")):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 8}" font-size="10" text-anchor="{anchor}" '
            f'fill="#555">{times[i].strftime(time_format)}</text>'
        )
    if threshold is not None:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(threshold):.1f}" '
            f'y2="{y(threshold):.1f}" stroke="#c62828" stroke-dasharray="4 3"/>'
        )
    if partial_last:
        parts.append(
            f'<rect class="partial-bin" x="{x(n - 2):.1f}" y="{top}" '
            f'width="{x(n - 1) - x(n - 2):.1f}" height="{plot_h}" fill="#eceff1" '
            'fill-opacity="0.6"/>'
            f'<text class="partial-label" x="{x(n - 1) - 2:.1f}" y="{top + plot_h - 4}" '
            f'font-size="10" text-anchor="end" fill="#555">{escape(partial_last)}</text>'
        )
    for index, (label, points) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        if partial_last and points[-1] is not None:
            if points[-2] is not None:
                parts.append(
                    f'<polyline class="partial" fill="none" stroke="{colour}" '
                    f'stroke-width="1.5" stroke-dasharray="4 3" stroke-opacity="0.55" '
                    f'points="{x(n - 2):.1f},{y(points[-2]):.1f} '
                    f'{x(n - 1):.1f},{y(points[-1]):.1f}"/>'
                )
            parts.append(
                f'<circle class="partial" cx="{x(n - 1):.1f}" cy="{y(points[-1]):.1f}" r="2.5" '
                f'fill="#fff" stroke="{colour}" stroke-opacity="0.55"/>'
            )
            points = [*points[:-1], None]  # the solid line stops at the last complete bin
        for segment in _segments(points, lambda i, v: f"{x(i):.1f},{y(v):.1f}"):
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            else:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                    f'points="{" ".join(segment)}"/>'
                )
        parts.append(
            f'<text x="{left + 8 + index * 110}" y="{top + 12}" font-size="11" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated label is escaped above


def sparkline(
    points: list[float | None], *, width: int = 120, height: int = 24, title: str = ""
) -> SafeString | None:
    """A small inline SVG line without axes (the overview's per-provider trend); None when
    there is no value. Gaps break the line. A partial last bin must come rate-normalised (see
    selectors.calls_per_minute), so the line does not drop at its end."""
    values = [float(v) for v in points if v is not None]
    if not values or len(points) < 2:
        return None
    ceiling = max(values) * 1.1 or 1.0
    n = len(points)

    def xy(i: int, v: float) -> str:
        return f"{1 + (width - 2) * i / (n - 1):.1f},{height - 1 - (height - 2) * v / ceiling:.1f}"

    segments = _segments([None if v is None else float(v) for v in points], xy)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pitboss-sparkline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    for segment in segments:
        parts.append(
            f'<polyline fill="none" stroke="{COLOURS[0]}" stroke-width="1.2" '
            f'points="{" ".join(segment)}"/>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - the only text (title) is escaped
