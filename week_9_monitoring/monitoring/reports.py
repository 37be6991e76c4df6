"""Static HTML reports: matplotlib figures embedded as PNG, so one file opens anywhere."""

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def save_figure(fig: Figure, png_path: Path) -> str:
    """Write the figure to png_path; return it as an <img> for the HTML page."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.write_bytes(buffer.getvalue())
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(png_path.stem)}" src="data:image/png;base64,{data}">'


def table(header: list[str], rows: list[list[object]]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def write_page(path: Path, title: str, *parts: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}"
        ".alert{color:#b00020;font-weight:bold}img{max-width:100%}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>", encoding="utf-8")
    return path
