"""report.html in a real browser: headless Chromium, no Node, no driver.

Two runs per check. A screenshot of the report as written (it must show the verdict table, badges coloured). And
`--dump-dom` of a test-only copy that carries one small script: the copy's Content-Security-Policy admits that one
script by nonce and nothing else, so the report's own policy still guards everything it loads. The script writes
what it found (images decoded and laid out, verdict rows, badge colours) into document.title, which the dumped DOM
shows. Console messages (a CSP violation, a script error) come from `--enable-logging=stderr`: the report has no
script, so any console line at all is a failure. A negative control proves the checks can fail.
"""

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
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not found (`make test` installs Debian's chromium)")

NONCE = "skiplab-test"
PROBE = f"""<script nonce="{NONCE}">
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) {{
    var r = i.getBoundingClientRect();
    return i.complete && i.naturalWidth > 0 && r.width > 100 && r.height > 50;
  }}).length;
  var rows = document.querySelectorAll("table.verdicts tbody tr").length;
  var colours = Array.prototype.map.call(document.querySelectorAll("table.verdicts .badge"), function (b) {{
    return b.textContent + "=" + getComputedStyle(b).backgroundColor;
  }});
  document.title = "imgs-ok:" + ok + "/" + imgs.length + ";verdict-rows:" + rows + ";badges:" + colours.join("|");
}});
</script>"""
GREEN, RED, AMBER = (26, 127, 55), (207, 34, 46), (240, 180, 0)  # the badge colours of skiplab.report.html


def _chromium(tmp: Path, *args: str) -> tuple[str, str]:
    """Run headless Chromium once; returns (stdout, stderr). Its whole process group is ended on a timeout."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "HOME": str(tmp)})
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish within 60 s")
    return out, err


def _probe(page: Path, tmp: Path) -> tuple[str, list[str]]:
    """(the probe's title, console lines) for a copy of `page` with the probe script let in."""
    html = page.read_text()
    csp = "default-src 'none'; img-src data:"
    assert csp in html
    html = html.replace(csp, f"{csp}; script-src 'nonce-{NONCE}'").replace("</body>", PROBE + "</body>")
    copy = tmp / f"probe-{page.name}"
    copy.write_text(html)
    dom, log = _chromium(tmp, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom",
                         copy.as_uri())
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    return (title.group(1) if title else ""), [ln for ln in log.splitlines() if "CONSOLE" in ln]


def test_every_figure_and_the_verdict_table_render_without_console_errors(rendered, tmp_path):
    title, console = _probe(rendered[0] / "report.html", tmp_path)
    n = len(FIGURE_IDS)
    assert title.startswith(f"imgs-ok:{n}/{n};verdict-rows:4;badges:"), title
    badges = dict(b.split("=") for b in title.split(";badges:")[1].split("|"))
    assert badges == {v: "rgb({}, {}, {})".format(*rgb) for v, rgb in
                      {"supported": GREEN, "not supported": RED, "inconclusive": AMBER}.items()}, badges
    assert console == [], console


def test_the_checks_catch_a_broken_page(rendered, tmp_path):
    """Negative control: a corrupt image and an external stylesheet must show up as failures."""
    html = (rendered[0] / "report.html").read_text()
    html = re.sub(r'(data:image/png;base64,)[A-Za-z0-9+/=]+', r"\1AAAA", html, count=1)
    html = html.replace("</head>", '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head>')
    broken = tmp_path / "broken.html"
    broken.write_text(html)
    title, console = _probe(broken, tmp_path)
    n = len(FIGURE_IDS)
    assert title.startswith(f"imgs-ok:{n - 1}/{n};"), title
    assert any("violates the following Content Security Policy" in ln for ln in console), console


def _pixels_near(img: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int((np.abs(img.astype(int) - np.array(rgb)).sum(axis=-1) <= 6).sum())


def test_screenshot_shows_the_report(rendered, tmp_path):
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", (rendered[0] / "report.html").as_uri())
    assert shot.is_file(), "no screenshot written"
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 2000)
    pixels = np.asarray(img)
    assert pixels.std() > 20, "the screenshot is one flat colour"
    # The verdict table is at the top: each badge colour must be painted (each badge is ~60 x 16 px).
    for name, rgb in {"supported": GREEN, "not supported": RED, "inconclusive": AMBER}.items():
        assert _pixels_near(pixels, rgb) > 300, f"no {name} badge in the screenshot"
    if os.environ.get("SKIPLAB_KEEP_SCREENSHOT"):  # for a person to look at: SKIPLAB_KEEP_SCREENSHOT=path
        shutil.copy(shot, os.environ["SKIPLAB_KEEP_SCREENSHOT"])
