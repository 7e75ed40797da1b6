"""The report's pictures, drawn with matplotlib into inline SVG (no scripts, no network, text kept as text).

Each function takes the plain data kept in report.json (`figures`) and returns an `<svg>` element.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

REAL, SYNTHETIC = "#3b6ea8", "#d9822b"


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    # svg.fonttype none: labels stay text (searchable, small); a fixed hashsalt and no date: the same data
    # gives the same bytes
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "biosynth", "font.size": 8,
                                "axes.spines.top": False, "axes.spines.right": False}):
        yield


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and doctype: the element is inlined in HTML
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # matplotlib's RDF block
    return re.sub(r'\s+xmlns:(?:dc|cc|rdf)="[^"]*"', "", text)


def distribution_plot(item: dict[str, Any]) -> str:
    """Real beside synthetic for one column: overlaid histogram shares for numbers and dates, paired bars for
    categories; the share of missing values in the title."""
    import numpy as np
    from matplotlib.figure import Figure

    with _style():
        figure = Figure(figsize=(3.6, 2.4))
        axes = figure.add_subplot()
        missing = item.get("missing", {})
        title = item["column"]
        if missing.get("real") or missing.get("synthetic"):
            title += f"  (missing: real {missing.get('real', 0):.0%}, synthetic {missing.get('synthetic', 0):.0%})"
        axes.set_title(title, loc="left")
        if item["plot"] == "histogram":
            edges = np.asarray(item["edges"])
            axes.stairs(item["real"], edges, fill=True, color=REAL, alpha=0.45)
            axes.stairs(item["synthetic"], edges, color=SYNTHETIC, linewidth=1.6)
            axes.set_xlabel(item.get("unit") or "value")
        elif item["plot"] == "bars":
            labels: Sequence[str] = item["categories"]
            x = np.arange(len(labels))
            axes.bar(x - 0.2, item["real"], width=0.4, color=REAL)
            axes.bar(x + 0.2, item["synthetic"], width=0.4, color=SYNTHETIC)
            axes.set_xticks(x, [label[:14] for label in labels], rotation=45 if len(labels) > 4 else 0,
                            ha="right" if len(labels) > 4 else "center")
        else:
            axes.text(0.5, 0.5, "no values to draw", ha="center", va="center", transform=axes.transAxes)
        axes.set_ylabel("share of rows")  # the colours are named once, above the plots
        return _svg(figure)


def association_heatmaps(associations: dict[str, Any]) -> str:
    """Pairwise association of the real table, the synthetic table, and their absolute difference."""
    import numpy as np
    from matplotlib.figure import Figure

    columns = associations["columns"]
    real = np.array(associations["real"], dtype=float)
    synthetic = np.array(associations["synthetic"], dtype=float)
    panels = (("real", real, "Blues", (0, 1)), ("synthetic", synthetic, "Blues", (0, 1)),
              ("|real - synthetic|", np.abs(real - synthetic), "Reds", (0, 1)))
    size = max(2.6, 0.28 * len(columns) + 1.2)
    with _style():
        figure = Figure(figsize=(3 * size, size), layout="constrained")
        for axes, (title, matrix, cmap, (low, high)) in zip(figure.subplots(1, 3), panels, strict=True):
            # pcolormesh, not imshow: cells stay vector shapes (imshow embeds a PNG)
            image = axes.pcolormesh(np.ma.masked_invalid(matrix), cmap=cmap, vmin=low, vmax=high)
            axes.set_aspect("equal")
            axes.invert_yaxis()
            axes.set_title(title)
            short = [_short(c) for c in columns]
            ticks = np.arange(len(columns)) + 0.5
            axes.set_xticks(ticks, short, rotation=90)
            axes.set_yticks(ticks, short)
            if title != "real":  # real and synthetic share one scale: one colour bar for both
                figure.colorbar(image, ax=axes, shrink=0.7)
        figure.suptitle(associations.get("measure", "association"), fontsize=8)
        return _svg(figure)


def _short(name: str) -> str:
    return name if len(name) <= 16 else name[:15] + "…"


def scoped(svg: str, prefix: str) -> str:
    """Prefix every id in one inline SVG (and the references to them): several drawings share one page, and
    matplotlib numbers its elements from 1 in each."""
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)
