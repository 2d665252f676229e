"""Report: one self-contained HTML page with figures (and the figures as PNG files)."""
from tapq.report.build import ReportResult, write_report

__all__ = ["ReportResult", "write_report"]
