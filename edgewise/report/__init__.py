"""The study report: a self-contained HTML page with inline SVG charts, and summary.md."""

from edgewise.report.html import write_report

__all__ = ["write_report"]
