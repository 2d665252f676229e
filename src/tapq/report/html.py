"""Turning figures and tables into one self-contained HTML page (images inlined as
base64 PNG, code highlighted by pygments with inline styles: nothing is fetched)."""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from matplotlib.figure import Figure
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer


@dataclass(frozen=True)
class Card:
    """A headline number at the top of the page."""

    value: str
    label: str
    kind: str = ""  # "discovered" | "human" | ""


@cache
def _template() -> Template:
    return Template(resources.files("tapq.report").joinpath("template.html").read_text())


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def image(png: bytes, alt: str) -> str:
    """An <img> carrying its PNG inline."""
    data = base64.b64encode(png).decode()
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            "</figure>")


def section(title: str, why: str, *parts: str, grid: bool = False) -> str:
    """A titled block; `why` says in one line what to look for."""
    body = "".join(parts)
    if grid:
        body = f'<div class="grid">{body}</div>'
    return (f"<section><h2>{html.escape(title)}</h2><p class=\"why\">{html.escape(why)}</p>"
            f"{body}</section>")


def table(header: list[str], rows: list[list[str]], text_columns: tuple[int, ...] = (),
          row_classes: list[str] | None = None) -> str:
    """An HTML table; cells are escaped."""
    def cell(tag: str, i: int, value: str) -> str:
        css = ' class="text"' if i in text_columns else ""
        return f"<{tag}{css}>{html.escape(str(value))}</{tag}>"
    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        f'<tr class="{(row_classes or [""] * len(rows))[r]}">'
        + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
        for r, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def code_block(code: str) -> str:
    """Python source, highlighted with inline styles."""
    formatter = HtmlFormatter(noclasses=True, style="friendly", nowrap=False)
    return f'<div class="code">{highlight(code, PythonLexer(), formatter)}</div>'


def quote(text: str) -> str:
    return f"<blockquote>{html.escape(text)}</blockquote>"


def page(title: str, subtitle: str, cards: list[Card], sections: list[str],
         footer: str) -> str:
    """The whole document."""
    card_html = "".join(
        f'<div class="card {c.kind}"><div class="value">{html.escape(c.value)}</div>'
        f'<div class="label">{html.escape(c.label)}</div></div>' for c in cards)
    return _template().substitute(title=html.escape(title), subtitle=html.escape(subtitle),
                                  cards=card_html, sections="\n".join(sections),
                                  footer=html.escape(footer))
