"""The results page draws in a real browser with the network off: accuracy by round and the loss curves.

Headless Chromium (Debian's chromium and chromium-driver, which .ci/run installs) is driven by
Selenium with every host name resolving to nothing and every connection sent to a closed proxy.
DVC's own page, which loads vega from a CDN, stays blank under the same conditions: that is the
control that shows the network is really off. Without Chromium the tests are skipped and say why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import DVC, STAGES, run

CHROMIUM = os.environ.get("TPT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TPT_CHROMEDRIVER", "/usr/bin/chromedriver")
NO_NETWORK = [
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves
    "--proxy-server=http://127.0.0.1:9",  # and anything that gets through goes to a closed port
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"no Chromium at {CHROMIUM} with a driver at {CHROMEDRIVER}: install Debian's chromium and "
                    "chromium-driver (.ci/run does) or set TPT_CHROMIUM/TPT_CHROMEDRIVER")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements/test.txt)")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for drivers online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,3000", *NO_NETWORK]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def drawn_plots(driver, page: Path, screenshot: Path, wait: float = 30) -> dict[str, dict]:
    """Open `page`, wait up to `wait` seconds for vega, and report each plot div: its marks (line paths,
    points) and text. The screenshot is left beside the page."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    count_plots = "return document.querySelectorAll('body > div[id]').length"
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    plots = driver.execute_script(count_plots)
    try:  # vega draws asynchronously: wait until every plot has an SVG, or give up and report what is there
        WebDriverWait(driver, wait).until(
            lambda d: d.execute_script("return document.querySelectorAll('svg.marks').length") >= max(1, plots)
        )
    except Exception:
        pass
    driver.save_screenshot(str(screenshot))
    return json.loads(driver.execute_script("""
        const found = {};
        for (const div of document.querySelectorAll('body > div[id]')) {  // one per plot
            const svg = div.querySelector('svg.marks');
            const paths = svg ? [...svg.querySelectorAll('g.mark-line path, g.mark-symbol path')] : [];
            found[div.id] = {
                svg: !!svg,
                marks: paths.filter(p => (p.getAttribute('d') || '').length > 10).length,
                text: svg ? svg.textContent : '',
            };
        }
        return JSON.stringify(found);
    """))


def test_the_offline_page_draws_accuracy_and_every_rounds_loss_curve_with_no_network(
        browser, reference_project, tmp_path):
    rounds = json.loads((reference_project / "reports" / "metrics.json").read_text())["by_round"]
    trained = list(rounds)  # r0 (the warm-up) and every train round
    page = tmp_path / "offline"
    output = run(STAGES + ["plots", "--out", str(page)], reference_project)
    assert "index.html" in output
    html = (page / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "<script src=" not in html  # nothing to fetch

    plots = drawn_plots(browser, page / "index.html", tmp_path / "offline.png")
    accuracy = [name for name in plots if "rounds_csv" in name]
    assert accuracy, f"no accuracy plot among {sorted(plots)}"
    assert all(plots[name]["marks"] >= 1 for name in accuracy), plots
    for name in trained:
        loss = [plot for plot in plots if f"train_curves_{name}_" in plot and plot.endswith("train_loss_tsv")]
        assert loss, f"no loss curve of {name} among {sorted(plots)}"
        assert plots[loss[0]]["marks"] >= 1, (loss[0], plots[loss[0]])
        assert "train/loss" in plots[loss[0]]["text"], plots[loss[0]]["text"][:200]
    assert (tmp_path / "offline.png").stat().st_size > 10_000


def test_dvcs_own_page_stays_blank_without_the_network(browser, reference_project, tmp_path):
    """The control: the same browser cannot fetch DVC's CDN scripts, so nothing is drawn."""
    page = tmp_path / "cdn"
    run(DVC + ["plots", "show", "-o", str(page)], reference_project)
    assert "cdn.jsdelivr" in (page / "index.html").read_text()
    plots = drawn_plots(browser, page / "index.html", tmp_path / "cdn.png", wait=5)
    assert plots and not any(plot["svg"] or plot["marks"] for plot in plots.values()), plots


def test_experiments_overlay_on_one_offline_page(browser, reference_project, tmp_path):
    """`python -m stages plots REV...` is `dvc plots diff`: the committed run against the workspace."""
    page = tmp_path / "diff"
    run(STAGES + ["plots", "HEAD", "--out", str(page)], reference_project)
    plots = drawn_plots(browser, page / "index.html", tmp_path / "diff.png")
    accuracy = [plot for name, plot in plots.items() if "rounds_csv" in name]
    assert accuracy and all(plot["marks"] >= 1 for plot in accuracy), plots
    assert "HEAD" in accuracy[0]["text"] and "workspace" in accuracy[0]["text"], accuracy[0]["text"][:300]
