"""report.html opened in headless Chromium: it renders, shows every metric, and loads nothing from outside."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from biosynth.eval import evaluate_tabular, evaluate_visits

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is required for this test: apt-get install chromium (.ci/run installs it)"
    return found


def test_report_html_renders_in_headless_chromium(tmp_path: Path, real_table, synthetic_table, metadata) -> None:
    report = evaluate_tabular(real_table.iloc[:300], synthetic_table.iloc[:300], holdout=real_table.iloc[300:600],
                              metadata=metadata, seed=0)
    report.write(tmp_path)
    page = (tmp_path / "report.html").resolve()
    source = page.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", source), "the report must be self-contained"
    profile = tmp_path / "profile"
    dom = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    assert "<svg" in rendered
    for result in report.results:
        assert result.name in rendered
    # the first screen: verdicts; then a matplotlib drawing for every scored column, as the browser parsed them
    assert rendered.index("Verdicts") < rendered.index("Summary")
    drawn = re.findall(r'<figure class="column-plot" data-column="([^"]+)"><svg', rendered)
    assert drawn == [c for c, kind in report.columns.items() if kind != "other"]
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2000",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # a page with plots, not a blank canvas


def test_visit_sequence_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    real = [[["a", "b"], ["b"], ["c"]], [["a"], ["a", "c"]], [["b", "c"], ["a"]]] * 10
    synthetic = [[["a"], ["b", "c"]], [["a", "b"], ["b"]], [["c"]]] * 10
    evaluate_visits(real, synthetic, seed=0, n_bootstrap=20).write(tmp_path)
    page = (tmp_path / "report.html").resolve()
    dom = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Visit sequences" in dom.stdout and "visit-sequence fidelity" in dom.stdout
    assert "r2_code_prevalence_per_patient" in dom.stdout and dom.stdout.count("<svg") >= 1
