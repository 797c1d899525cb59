"""Reports written for people: one self-contained HTML page per experiment (`seqlab.reports.html`)."""

from seqlab.reports.html import HtmlReport, image_data_uri

__all__ = ["HtmlReport", "image_data_uri"]
