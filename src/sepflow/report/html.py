"""The report as one self-contained HTML page: tables, provenance under each, figures and
playable audio examples embedded as data URIs, so the page can be mailed or archived alone."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
.scroll { overflow-x: auto; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.provenance { font-size: 0.85em; color: #444; background: #fafafa; border-left: 3px solid #999; padding: 0.5em 1em; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
audio { width: 220px; }
"""


@dataclass
class Section:
    """One test set: its readable table, the note under it, provenance, figures and audio."""

    title: str
    table: pd.DataFrame
    note: str
    provenance: dict[str, str]
    figures: list[tuple[str, Path]] = field(default_factory=list)
    audio: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    """Rows of (label, [(signal name, data URI)])."""


def png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def wav_uri(audio: np.ndarray, sample_rate: int) -> str:
    """(channels, samples) float audio as a 16-bit WAV data URI."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1, 1).T, sample_rate, subtype="PCM_16", format="WAV")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def _provenance(items: dict[str, str]) -> str:
    rows = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in items.items())
    return f'<div class="provenance"><b>Provenance</b><ul>{rows}</ul></div>'


def _audio_table(rows: list[tuple[str, list[tuple[str, str]]]]) -> str:
    if not rows:
        return ""
    names = [name for name, _ in rows[0][1]]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["item", *names])
    body = "".join(
        "<tr><td>"
        + html.escape(label)
        + "</td>"
        + "".join(f'<td><audio controls preload="none" src="{uri}"></audio></td>' for _, uri in signals)
        + "</tr>"
        for label, signals in rows
    )
    return f'<h3>Audio examples</h3><table class="audio"><tr>{head}</tr>{body}</table>'


def _section(section: Section) -> str:
    figures = "".join(
        f'<h3>{html.escape(caption)}</h3><img alt="{html.escape(caption)}" src="{png_uri(path)}">'
        for caption, path in section.figures
    )
    return (
        f"<section><h2>{html.escape(section.title)}</h2>"
        + '<div class="scroll">'
        + section.table.to_html(index=False, escape=True, classes="results", border=0)
        + "</div>"
        + f"<p>{html.escape(section.note)}</p>"
        + _provenance(section.provenance)
        + figures
        + _audio_table(section.audio)
        + "</section>"
    )


def render_page(sections: list[Section], run: dict[str, str], extra_figures: list[tuple[str, Path]]) -> str:
    """The whole page: run facts, a section per test set, then figures across test sets."""
    header = " · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in run.items())
    figures = "".join(
        f'<h2>{html.escape(caption)}</h2><img alt="{html.escape(caption)}" src="{png_uri(p)}">'
        for caption, p in extra_figures
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>sepflow report</title>'
        f"<style>{STYLE}</style></head><body><h1>sepflow report</h1><p>{header}</p>"
        + "".join(_section(s) for s in sections)
        + figures
        + "</body></html>"
    )
