"""Reports: the analysis as Markdown and as one self-contained HTML page with plots.

Reads: the `analysis` dict of `migrate.analyze` (also written as `clusters.json`) and the 2-D
`points` of a sample of calls (`{"x", "y", "cluster"}`). Writes: `report.md` and `report.html`,
atomically. Same inputs, same bytes.

- `facts`: what both reports say (formatted numbers, table rows, example views);
- `markdown`, `html`: the two renderings, each escaping the untrusted log text for its format;
- `plots`: the four matplotlib figures as inline SVG (matplotlib imported only there, when called).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrate.workspace import write_text


def write_analysis_reports(analysis: dict[str, Any], points: dict[str, Any], md_path: Path, html_path: Path) -> None:
    """Render `analysis` (and the `points` map) to `md_path` and `html_path`."""
    from migrate.report.html import render_html
    from migrate.report.markdown import render_markdown
    from migrate.report.plots import render_plots

    write_text(md_path, render_markdown(analysis))
    write_text(html_path, render_html(analysis, render_plots(analysis, points)))


__all__ = ["write_analysis_reports"]
