"""The HTML pages: one per session (checklist, facts, images embedded) and an overview of several sessions."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .stats import SessionPreview


def _img_tag(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}" title="{html.escape(path.name)}">'


_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}img{max-width:100%;margin:4px}
.ok{color:#1a7f37}.fail{color:#c62828;font-weight:bold}.imgs{display:flex;flex-wrap:wrap}"""


def _session_html(session: SessionPreview) -> str:
    e = html.escape
    out = [f"<h2>{e(session.source)}</h2>",
           f"<p>Planned DANDI name: <code>{e(session.dandi_name or 'unknown (subject_id / session_id missing)')}"
           "</code></p>", "<h3>DANDI checklist</h3><p>What DANDI's validator and a DANDI-ready conversion "
           "need (&#10007;: missing or malformed).</p><ul>"]
    for ok, item in session.checklist:
        out.append(f'<li class="{"ok" if ok else "fail"}">{"&#10003;" if ok else "&#10007;"} {e(item)}</li>')
    out.append("</ul>")
    for sp in session.streams:
        out.append(f"<h3>{e(sp.name)}</h3><table>")
        facts = [("samples", sp.num_samples), ("sample shape (rows, columns[, planes])", sp.sample_shape),
                 ("dtype", sp.dtype), ("chunks", sp.chunks), ("compression", sp.compression),
                 ("median interval", f"{sp.median_interval * 1e3:.6g} ms ({1 / sp.median_interval:.6g} Hz)"
                  if sp.median_interval == sp.median_interval and sp.median_interval > 0 else "n/a"),
                 ("intervals off by > half the median", len(sp.irregular_samples)),
                 ("samples in the images", f"{len(sp.image_samples)} of {sp.num_samples}")]
        out.extend(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
        out.append('</table><div class="imgs">')
        out.extend(_img_tag(p) for p in sp.images.values())
        out.append("</div>")
    return "\n".join(out)


def _write_page(path: Path, title: str, body: str) -> None:
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n",
                    encoding="utf-8")
