"""report.html in a real browser, at 1400 and 400 CSS px wide: headless Chromium, no Node, no driver.

Headless Chromium will not make its window narrower than 500 px (Chromium 156: `--window-size=400,...` gives an
innerWidth of 500), so the report is loaded into an iframe of a test-only wrapper page, `width` px wide: an iframe's
width is the viewport its page lays out in, media queries included. The wrapper's one script reads the report's
document from outside (a srcdoc iframe shares the wrapper's origin) once every image has decoded, and writes what
it found into the wrapper's title, which `--dump-dom` prints: the viewport's width, whether the page scrolls
sideways (documentElement.scrollWidth > innerWidth) and which elements stick out, images decoded and laid out,
verdict rows and badge colours. The report keeps its own Content-Security-Policy inside the iframe, so it still
runs no script and fetches nothing. Console messages (a CSP violation, a script error) come from
`--enable-logging=stderr`: the report has no script, so any console line at all is a failure. Negative controls
prove the checks can fail.

Where no chromium is installed the checks skip with one line saying how to install it, except under CI (the
environment variable CI set, as CI services do), where a missing browser fails the run.
"""

import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import FIGURE_IDS

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).is_file()), None)
MISSING = "chromium not found: install it (Debian: apt-get install chromium) to run the browser checks"
MIN_WINDOW = 500  # headless Chromium's narrowest window, in px
WIDTHS = (1400, 400)
GREEN, RED, AMBER = (26, 127, 55), (207, 34, 46), (240, 180, 0)  # the badge colours of skiplab.report.html


def in_ci(env: dict) -> bool:
    """CI=1 / CI=true (GitHub Actions, GitLab and most services set it); CI=0, false or empty is not CI."""
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_plan(chromium: str | None, env: dict) -> tuple[str, str]:
    """("run", chromium's path), ("skip", why) or ("fail", why): a missing browser only fails the run under CI."""
    if chromium:
        return "run", chromium
    if in_ci(env):
        return "fail", f"{MISSING} (CI is set, and there the browser checks must run)"
    return "skip", MISSING


@pytest.fixture(scope="module")
def chromium() -> str:
    what, detail = browser_plan(CHROMIUM, dict(os.environ))
    if what == "skip":
        pytest.skip(detail)
    if what == "fail":
        pytest.fail(detail)
    return detail


def test_a_missing_browser_skips_with_one_line_except_under_ci():
    assert browser_plan("/usr/bin/chromium", {"CI": "1"}) == ("run", "/usr/bin/chromium")
    assert browser_plan(None, {}) == ("skip", MISSING)
    for off in ("0", "false", "False", ""):
        assert browser_plan(None, {"CI": off}) == ("skip", MISSING), off
    for on in ("1", "true", "yes"):
        what, why = browser_plan(None, {"CI": on})
        assert what == "fail" and why.startswith(MISSING) and "\n" not in why, on


PROBE = """
var frame = document.createElement("iframe");
frame.width = WIDTH; frame.height = 1000;
frame.addEventListener("load", function () {  // listening before the page is set: its load cannot be missed
  var w = frame.contentWindow, d = frame.contentDocument, vw = w.innerWidth;
  var imgs = Array.prototype.slice.call(d.images);
  function clipped(el) {  // inside a box that scrolls or clips sideways: it does not widen the page
    for (var a = el.parentElement; a && a !== d.body; a = a.parentElement) {
      if (["auto", "scroll", "hidden"].indexOf(w.getComputedStyle(a).overflowX) >= 0) return true;
    }
    return false;
  }
  var wide = [];  // what sticks out: a box past the right edge, or text running out of its box (a long word)
  Array.prototype.forEach.call(d.body.querySelectorAll("*"), function (el) {
    var spills = el.scrollWidth > el.clientWidth + 1 && w.getComputedStyle(el).overflowX === "visible";
    if ((el.getBoundingClientRect().right > vw + 0.5 || spills) && !clipped(el)) {
      wide.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
    }
  });
  document.title = JSON.stringify({
    viewport: vw, scrollWidth: d.documentElement.scrollWidth, wide: wide.slice(0, 5), images: imgs.length,
    // loaded with a size: the PNG decoded (a corrupt one has none); laid out visibly and within the page
    decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    shown: imgs.filter(function (i) {
      var r = i.getBoundingClientRect();
      return i.naturalWidth > 0 && r.width > 100 && r.height > 50 && r.right <= vw + 0.5;
    }).length,
    verdictRows: d.querySelectorAll("table.verdicts tbody tr").length,
    badges: Array.prototype.map.call(d.querySelectorAll("table.verdicts .badge"), function (b) {
      return [b.textContent, w.getComputedStyle(b).backgroundColor];
    })
  });
});
frame.srcdoc = PAGE;
document.body.appendChild(frame);
"""


def _chromium(browser: str, tmp: Path, *args: str) -> tuple[str, str]:
    """Run headless Chromium once; returns (stdout, stderr). Its whole process group is ended on a timeout."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "HOME": str(tmp)})
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish within 90 s")
    return out, err


def _probe(browser: str, page_html: str, width: int, tmp: Path) -> tuple[dict, list[str]]:
    """(what the probe found, console lines) for `page_html` laid out `width` CSS px wide."""
    wrapper = tmp / f"probe-{width}-{len(list(tmp.glob('probe-*')))}.html"
    # The page as a JS string; "</" written "<\\/" so that nothing in it can end the wrapper's script.
    page = json.dumps(page_html).replace("</", "<\\/")
    wrapper.write_text('<!doctype html><html><head><meta charset="utf-8"><title>no result</title>'
                       "<style>body { margin: 0; } iframe { border: 0; display: block; }</style></head><body>"
                       f"<script>{PROBE.replace('WIDTH', str(width)).replace('PAGE', page)}</script></body></html>",
                       encoding="utf-8")
    dom, log = _chromium(browser, tmp, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                         f"--window-size={max(width, MIN_WINDOW) + 20},1100", "--dump-dom", wrapper.as_uri())
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    text = html.unescape(title.group(1)) if title else ""
    assert text.startswith("{"), f"the probe wrote no result: {text!r}"
    return json.loads(text), [ln for ln in log.splitlines() if "CONSOLE" in ln]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_page_fits_its_width_every_image_decodes_and_the_console_stays_silent(chromium, rendered, tmp_path,
                                                                                    width):
    found, console = _probe(chromium, (rendered[0] / "report.html").read_text(), width, tmp_path)
    n = len(FIGURE_IDS)
    assert found["viewport"] == width, found  # the page really was laid out this wide
    assert found["scrollWidth"] <= found["viewport"] and found["wide"] == [], found  # never scrolls sideways
    assert (found["images"], found["decoded"], found["shown"]) == (n, n, n), found
    assert found["verdictRows"] == 4, found
    assert dict(found["badges"]) == {v: "rgb({}, {}, {})".format(*rgb) for v, rgb in
                                     {"supported": GREEN, "not supported": RED, "inconclusive": AMBER}.items()}
    assert console == [], console


def test_the_checks_catch_a_broken_page(chromium, rendered, tmp_path):
    """Negative control: a corrupt image, an external stylesheet, a word longer than a phone is wide (in a box the
    report's CSS does not wrap) and an element wider than a phone must each show up as a failure."""
    page = (rendered[0] / "report.html").read_text()
    page = re.sub(r'(data:image/png;base64,)[A-Za-z0-9+/=]+', r"\1AAAA", page, count=1)
    page = page.replace("</head>", '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head>')
    page = page.replace("</body>", f'<div class="long-word">{"0123456789abcdef" * 8}</div>'
                                   '<div class="too-wide" style="width: 600px; height: 4px"></div></body>')
    found, console = _probe(chromium, page, 400, tmp_path)
    n = len(FIGURE_IDS)
    assert (found["images"], found["decoded"]) == (n, n - 1), found
    assert found["scrollWidth"] > found["viewport"] == 400, found
    assert found["wide"] == ["div.long-word", "div.too-wide"], found
    assert any("violates the following Content Security Policy" in ln for ln in console), console


def _pixels_near(img: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int((np.abs(img.astype(int) - np.array(rgb)).sum(axis=-1) <= 6).sum())


def test_screenshot_shows_the_report(chromium, rendered, tmp_path):
    shot = tmp_path / "report.png"
    _chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,2000",
              (rendered[0] / "report.html").as_uri())
    assert shot.is_file(), "no screenshot written"
    img = Image.open(shot).convert("RGB")
    assert img.size == (1400, 2000)
    pixels = np.asarray(img)
    assert pixels.std() > 20, "the screenshot is one flat colour"
    # The verdict table is at the top: each badge colour must be painted (each badge is ~60 x 16 px).
    for name, rgb in {"supported": GREEN, "not supported": RED, "inconclusive": AMBER}.items():
        assert _pixels_near(pixels, rgb) > 300, f"no {name} badge in the screenshot"
    if os.environ.get("SKIPLAB_KEEP_SCREENSHOT"):  # for a person to look at: SKIPLAB_KEEP_SCREENSHOT=path
        shutil.copy(shot, os.environ["SKIPLAB_KEEP_SCREENSHOT"])
