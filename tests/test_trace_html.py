"""The HTML page: self-contained, every string from the run escaped, the details on hover."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

from _trace_samples import known_trace, realistic_trace

from volley.trace import Trace, TraceTurn, html, write_html

EVIL = '</title></text><script>alert(1)</script><img src=x onerror="alert(2)">&amp;\'"'


class Page(HTMLParser):
    """Every tag and attribute of a page, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.titles: list[str] = []
        self._in_title = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        self._in_title = tag == "title"
        if self._in_title:
            self.titles.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles[-1] += data


def hostile() -> Trace:
    """The known trace with markup in everything that comes from a model, a tool or a user."""
    trace = known_trace()
    first = trace.turns[0]
    calls = tuple(
        replace(c, name=EVIL, id=EVIL, arguments={EVIL: EVIL}, content=EVIL, error_kind=EVIL)
        for c in first.calls
    )
    turns = (
        TraceTurn(1, calls, first.stats, EVIL, calls[:1], (EVIL,)),
        replace(trace.turns[1], text=EVIL),
    )
    return replace(trace, turns=turns, meta={"model": EVIL, "prompt": EVIL}, output=EVIL)


def test_nothing_from_the_run_becomes_markup() -> None:
    page = html(hostile())
    parsed = Page(page)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # The hostile text is shown as text: in tooltips, whole.
    assert sum(EVIL in title for title in parsed.titles) >= 3


def test_the_page_needs_nothing_from_the_network() -> None:
    page = html(realistic_trace())
    parsed = Page(page)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    for name, value in parsed.attributes:
        if name in ("src", "href", "xlink:href"):
            raise AssertionError(f"{name}={value}")
    assert "@import" not in page
    assert "http://" not in page
    assert re.findall(r"url\(([^)]*)\)", page)
    assert all(u == "#hatch" for u in re.findall(r"url\(([^)]*)\)", page))
    assert page.count("<style>") == 1


def test_each_bar_tells_its_call_on_hover() -> None:
    parsed = Page(html(realistic_trace()))
    tips = [t for t in parsed.titles if t.startswith(("read_file", "write_file"))]
    assert len(tips) == 5
    failed = next(t for t in tips if "legacy" in t)
    assert 'arguments: {"path": "src/legacy.py"}' in failed
    assert "failed (exception)" in failed
    assert "error: read_file failed" in failed
    assert "started while the model was writing" in failed
    write = next(t for t in tips if t.startswith("write_file"))
    assert "arguments complete at 1.30 s · started 1.50 s · ended 1.70 s · 200 ms" in write
    assert "result: wrote" in write
    model = next(t for t in parsed.titles if t.startswith("model"))
    assert "message ended at 1.00 s" in model
    assert "1,850 tokens in" in model


def test_the_page_has_the_runs_figures_and_every_turn() -> None:
    page = html(realistic_trace())
    for figure in ("ROUND TRIPS", "CALLS PER TURN", "WALL TIME", "TOKENS"):
        assert f"<dt>{figure.lower()}</dt>" in page
    assert "<dd>3 · 4 · 0</dd>" in page
    assert "<dd>5.70 s</dd>" in page
    assert "<dd>11,080 in · 526 out</dd>" in page
    for index in (1, 2, 3):
        assert f'id="turn-{index}"' in page
        assert f"Timeline of turn {index}" in page
    assert page.count('class="row ') == 3 + 1 + 4 + 1 + 1
    assert "Fixed: `parse_date`" in page


def test_an_unfinished_trace_says_so() -> None:
    trace = known_trace()
    cut = replace(trace, stats=None, output=None, truncated=True,
                  turns=(replace(trace.turns[0], stats=None),))  # fmt: skip
    page = html(replace(cut, error="MaxTurnsExceeded: <b>20</b>", failed_at=9.0))
    assert "the run failed: MaxTurnsExceeded: &lt;b&gt;20&lt;/b&gt;" in page
    assert '<line class="failed"' in page
    assert ">run failed</text>" in page
    page = html(cut)
    assert "never finished" in page
    assert "did not finish" in page
    assert "cut off" in page


def test_write_html_writes_the_page(tmp_path: Path) -> None:
    trace = known_trace()
    path = write_html(trace, tmp_path / "page.html")
    assert path.read_text(encoding="utf-8") == html(trace)
    assert html(Trace(())).count("No turn was recorded") == 1
