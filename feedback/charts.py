"""Geometry for the server-rendered weekly trend chart (the template draws the SVG, so every
label is escaped like any other text)."""

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    for step in (5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000):
        if value <= step * 4:
            return step * 4
    magnitude = 10 ** (len(str(value)) - 1)
    return -(-value // magnitude) * magnitude


def trend_chart(trend: list[dict]) -> dict:
    """Bars for responses per week with the part that raised a problem drawn inside, and
    four gridlines. Returns plain numbers for ``feedback/_trend_chart.html``."""
    top = _nice_max(max((week["responses"] for week in trend), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(trend), 1)
    bar_w = slot * 0.64

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    bars = []
    for index, week in enumerate(trend):
        x = LEFT + index * slot + (slot - bar_w) / 2
        bars.append(
            {
                "x": round(x, 1),
                "w": round(bar_w, 1),
                "y": round(y(week["responses"]), 1),
                "h": round(plot_h * week["responses"] / top, 1),
                "py": round(y(week["problems"]), 1),
                "ph": round(plot_h * week["problems"] / top, 1),
                "label_x": round(x + bar_w / 2, 1),
                "week": week,
                "show_label": index % 2 == (len(trend) - 1) % 2,
            }
        )
    grid = [{"y": round(y(top * i / 4), 1), "value": top * i // 4} for i in range(5)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "baseline": TOP + plot_h,
        "label_y": HEIGHT - BOTTOM + 18,
        "bars": bars,
        "grid": grid,
        "weeks": trend,
    }
