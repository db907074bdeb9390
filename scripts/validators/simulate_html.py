"""The `cerverus simulate` HTML report in a real browser: headless Chromium (Debian's `chromium`)
opens the page of the default spec's prod simulation, dumps the DOM it built and takes a
screenshot. The DOM must have the report's sections, each chart section its SVG charts (every
`<svg>` with a title and drawn shapes), no script and nothing loaded from elsewhere; the
screenshot must decode and show the charts' colours, not a blank or grey page.

The page is rendered by the cerverus binary under test (`--cerverus-bin`); pages planted under
`simulate/` in the tree being validated are judged the same way (the self-test plants one
without charts, which the DOM check must reject, and one whose charts are drawn white on white,
which only the screenshot check can reject). The PNG is decoded with the standard library (zlib,
struct): no imaging dependency."""

from __future__ import annotations

import shutil
import struct
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

from common import Context, Result, run

NAME = "simulate HTML (headless Chromium)"

# The report's sections by id: the model box, and one per model (report/view.rs, sections/*.rs).
SECTIONS = ["model", "capacity", "surge", "provisioning", "cost", "recovery"]
# Sections that must draw at least this many charts, and the page's total.
# (Kept in step with crates/simulate/tests/report.rs.)
CHARTS = {"capacity": 2, "surge": 2, "provisioning": 1, "cost": 1, "recovery": 1}
MIN_SVGS = sum(CHARTS.values())
# SVG shapes that draw something.
SHAPES = {"rect", "path", "line", "polyline", "polygon", "circle", "ellipse"}
# The screenshot: width as a laptop shows it, tall enough for the whole report.
WINDOW = "1280,4000"

_NO_CHARTS = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>cerverus simulate: prod</title></head>
<body><header><h1>Simulation of prod</h1><p>PASS</p></header><main>
<section id="model"><h2>This is a model</h2><p>Numbers below.</p></section>
<section id="capacity"><h2>Capacity</h2><table><tr><td>shop/api</td><td>PASS</td></tr></table></section>
<section id="surge"><h2>Surge</h2><p>95 s</p></section>
<section id="provisioning"><h2>Provisioning</h2><p>24 min</p></section>
<section id="cost"><h2>Cost</h2><p>$12,000</p></section>
<section id="recovery"><h2>Recovery</h2><p>RPO 5 min</p></section>
</main></body></html>
"""

# Charts in every section, each with a title, a shape and a label, all drawn white on white: the
# DOM passes, so only the screenshot can reject it.
_WHITE_CHART = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 20" role="img"><title>chart</title>'
    '<rect x="0" y="0" width="100" height="20" fill="#ffffff"/><text x="2" y="12" fill="#ffffff">0</text></svg>'
)
_BLANK_CHARTS = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/><title>x</title></head><body><main>'
    + "".join(f'<section id="{s}">{_WHITE_CHART * CHARTS.get(s, 0)}</section>' for s in SECTIONS)
    + "</main></body></html>\n"
)

BROKEN_FIXTURES: dict[str, str] = {"simulate/no-charts.html": _NO_CHARTS, "simulate/blank-charts.html": _BLANK_CHARTS}
MUST_NAME: dict[str, list[str]] = {NAME: ["simulate/no-charts.html", "simulate/blank-charts.html"]}


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser(exe: str, page: Path, work: Path, mode: list[str]) -> tuple[int, str, str]:
    """One headless Chromium run on `page` with a profile of its own (never the user's), no
    network services, no GPU; `mode` is `--dump-dom` or `--screenshot=…`."""
    profile = Path(tempfile.mkdtemp(dir=work, prefix="profile-"))
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW}",
        *mode,
        page.resolve().as_uri(),
    ]
    try:
        p = run(cmd, timeout=180)
    except Exception as e:  # a hung browser is a failed check, not a crashed validator
        return 1, "", f"chromium did not finish: {e}"
    return p.returncode, p.stdout, p.stderr


class Dom(HTMLParser):
    """What the checks need from the DOM Chromium built: section ids, each `<svg>` with the shapes
    and title it holds and the section it sits in, scripts, and resources loaded from a URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[str] = []
        self.svgs: list[dict] = []
        self.scripts = 0
        self.external: list[str] = []
        self._section: list[str | None] = []
        self._svg_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section.append(a.get("id"))
            if a.get("id"):
                self.sections.append(a["id"] or "")
        elif tag == "svg":
            if self._svg_depth == 0:
                section = next((s for s in reversed(self._section) if s), None)
                self.svgs.append({"section": section, "shapes": 0, "title": "", "texts": 0})
            self._svg_depth += 1
        elif self._svg_depth and tag in SHAPES:
            self.svgs[-1]["shapes"] += 1
        elif self._svg_depth and tag == "title" and not self.svgs[-1]["title"]:
            self._in_title = True
        elif self._svg_depth and tag == "text":
            self.svgs[-1]["texts"] += 1
        if tag == "script":
            self.scripts += 1
        for key in ("src", "srcset", "data"):
            if a.get(key):
                self.external.append(f"<{tag} {key}={a[key]}>")
        if tag == "link" and a.get("href"):
            self.external.append(f"<link href={a['href']}>")
        if "url(" in (a.get("style") or ""):
            self.external.append(f"<{tag} style=…url(…)>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("svg", "section"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._section:
            self._section.pop()
        elif tag == "svg" and self._svg_depth:
            self._svg_depth -= 1
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and self.svgs:
            self.svgs[-1]["title"] += data.strip()


def judge_dom(dom_text: str) -> list[str]:
    problems: list[str] = []
    d = Dom()
    d.feed(dom_text)
    d.close()
    if "<style" in dom_text and "url(" in dom_text.split("<style", 1)[1].split("</style>", 1)[0]:
        d.external.append("<style> with url(…)")
    missing = [s for s in SECTIONS if s not in d.sections]
    if missing:
        problems.append(f"sections missing from the DOM: {', '.join(missing)} (found: {', '.join(d.sections) or 'none'})")
    if len(d.svgs) < MIN_SVGS:
        problems.append(f"{len(d.svgs)} <svg> charts in the DOM, expected at least {MIN_SVGS}")
    for section, n in CHARTS.items():
        got = sum(1 for s in d.svgs if s["section"] == section)
        if section in d.sections and got < n:
            problems.append(f"section {section}: {got} charts, expected at least {n}")
    for i, s in enumerate(d.svgs):
        if s["shapes"] == 0:
            problems.append(f"<svg> #{i + 1} (section {s['section']}) draws no shape")
        if not s["title"]:
            problems.append(f"<svg> #{i + 1} (section {s['section']}) has no <title>")
        if s["texts"] == 0:
            problems.append(f"<svg> #{i + 1} (section {s['section']}) has no text labels")
    if d.scripts:
        problems.append(f"{d.scripts} <script> elements (the report must not need one)")
    for e in d.external:
        problems.append(f"loads a resource: {e}")
    return problems


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, bytes per pixel, unfiltered pixel rows) of an 8-bit RGB or RGBA PNG,
    non-interlaced (what Chromium writes). Raises ValueError on anything else."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, bytearray(), None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, colour, _, _, interlace = ihdr
    bpp = {2: 3, 6: 4}.get(colour)
    if depth != 8 or bpp is None or interlace:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {colour}, interlace {interlace})")
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise ValueError(f"pixel data is {len(raw)} bytes, expected {height * (stride + 1)}")
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 0xFF
        elif f == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, prev))
        elif f == 3:
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif f != 0:
            raise ValueError(f"row {y}: unknown filter {f}")
        out[y * stride : (y + 1) * stride] = row
        prev = row
    return width, height, bpp, bytes(out)


def judge_png(path: Path) -> list[str]:
    """The screenshot shows a page: mostly light background, some ink, and the charts' saturated
    colours in several hues (a page of text alone has only greys)."""
    if not path.is_file() or path.stat().st_size == 0:
        return ["no screenshot was written"]
    try:
        width, height, bpp, px = decode_png(path.read_bytes())
    except (ValueError, zlib.error, struct.error) as e:
        return [f"screenshot does not decode: {e}"]
    colours: set[bytes] = set()
    hues: set[int] = set()
    ink = saturated = total = 0
    stride = width * bpp
    # Every 3rd pixel of every 2nd row: thousands of samples per chart, a fraction of the work.
    for y in range(0, height, 2):
        row = px[y * stride : (y + 1) * stride]
        for x in range(0, width, 3):
            r, g, b = row[x * bpp], row[x * bpp + 1], row[x * bpp + 2]
            total += 1
            colours.add(bytes((r, g, b)))
            hi, lo = max(r, g, b), min(r, g, b)
            if hi < 200:
                ink += 1
            if hi - lo > 80:
                saturated += 1
                # Hue in 12 buckets of 30°.
                if hi == r:
                    h = ((g - b) / (hi - lo)) % 6
                elif hi == g:
                    h = (b - r) / (hi - lo) + 2
                else:
                    h = (r - g) / (hi - lo) + 4
                hues.add(int(h * 2) % 12)
    problems = []
    if len(colours) < 16:
        problems.append(f"screenshot {width}×{height} has {len(colours)} distinct colours: blank or nearly")
    if total and ink / total < 0.01:
        problems.append(f"screenshot is {100 * (1 - ink / total):.1f}% background: nothing drawn")
    if (total and saturated / total < 0.003) or len(hues) < 3:
        problems.append(f"screenshot shows {saturated} saturated samples in {len(hues)} hues: no charts' colours")
    return problems


def judge_page(exe: str, page: Path, name: str, work: Path) -> list[str]:
    rc, dom, err = browser(exe, page, work, ["--dump-dom"])
    if rc != 0 or "<html" not in dom:
        return [f"{name}: chromium --dump-dom exited {rc}: {err.strip()[-400:]}"]
    problems = [f"{name}: {p}" for p in judge_dom(dom)]
    png = work / (page.stem + ".png")
    rc, _, err = browser(exe, page, work, [f"--screenshot={png}"])
    if rc != 0:
        return problems + [f"{name}: chromium --screenshot exited {rc}: {err.strip()[-400:]}"]
    return problems + [f"{name}: {p}" for p in judge_png(png)]


def results(ctx: Context) -> list[Result]:
    r = Result(NAME, unit="pages")
    exe = chromium()
    if exe is None:
        r.skipped = "chromium not on PATH (Debian package chromium; scripts/test installs it when root)"
        return [r]
    planted = sorted((ctx.root / "simulate").glob("*.html")) if (ctx.root / "simulate").is_dir() else []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pages: list[tuple[Path, str]] = [(p, str(p.relative_to(ctx.root))) for p in planted]
        if ctx.cerverus_bin is not None:
            out = work / "prod.html"
            # Exit 1 means a verdict failed: the page is still written and is still judged here
            # (the verdicts themselves are cerverus's tests' business); 2 is an error.
            p = run([str(ctx.cerverus_bin), "simulate", "--env", "prod", "--format", "html", "--output", str(out)])
            if p.returncode not in (0, 1) or not out.is_file():
                r.files += 1
                r.failed += 1
                r.problems.append(f"cerverus simulate --format html exited {p.returncode}: {p.stderr.strip()[-400:]}")
            else:
                pages.append((out, "cerverus simulate --env prod --format html"))
        if not pages:
            r.skipped = "no --cerverus-bin given and no page planted under simulate/"
            return [r]
        for page, name in pages:
            r.files += 1
            problems = judge_page(exe, page, name, work)
            if problems:
                r.failed += 1
                r.problems += problems
            else:
                r.passed += 1
    return [r]
