"""The Binder path as a visitor meets it: JupyterLab from the project's environment, a notebook opened and run
with "Run All Cells" from the Run menu in a real headless Chromium, no cell in error, each expected figure drawn as an
image by the cell that makes it (a figure notebook shows the very PNG it saved).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them where it can); nothing is
downloaded at run time: Selenium drives ``/usr/bin/chromedriver`` explicitly. The server runs on loopback with a
token and throw-away config, data, runtime, settings and workspace folders, over a temp copy of what the notebooks
read and write, so a run leaves the checkout as it was. Each test saves a screenshot of the whole notebook after
the run under its temp dir and prints the path.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("RLSCALE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("RLSCALE_CHROMEDRIVER", "/usr/bin/chromedriver"))
# the flags that keep headless Chromium from stalling on a closed network (it retries Google's hosts otherwise)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000"]
# what the notebooks read (the embedded run tables and analyses, the pipeline parameters) and write (figures/), copied
COPIED = ("notebooks", "data", "results", "figures", "params.yaml")
# the cells that draw a figure when a notebook runs as it is, in JupyterLab, by their first line: the tour's six
# (learning curves, B*/η* laws, D_J, frontier, σ*(F), σ* against δ) and the one a figure notebook saves and shows
FIGURES = {"explore": ["plots.learning_curves(", "plots.hparam_laws(", "plots.data_efficiency(",
                       "plots.pareto_frontier(", "plots.budget_extrapolation(", "moves = "],
           "fig_d_data_efficiency": ["fig = plots.data_efficiency("]}
# what a figure notebook shows is the very PNG it saved (in the server's copy of the repository)
SAVED = {"fig_d_data_efficiency": "figures/dmc/fig_d_data_efficiency.png"}
SERVER_START_S, NOTEBOOK_OPEN_S, RUN_ALL_S = 120, 120, 300  # bounded, ~10x a run on a loaded 2-core machine

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason=f"no headless Chromium at {CHROMIUM} / {CHROMEDRIVER}: apt-get install -y chromium chromium-driver",
)


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, timeout_s: float, probe: Callable[[], Any], interval_s: float = 0.5) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (result := probe()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)
    return result


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab server of this environment on loopback over a temp copy of the notebooks and their data."""
    root = tmp_path / "root"
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.is_file():
            root.mkdir(exist_ok=True)
            shutil.copy2(src, root / name)
    (root / "figures").mkdir(parents=True, exist_ok=True)
    jupyter = tmp_path / "jupyter"
    settings = jupyter / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no news feed, no update check: nothing leaves the machine
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                            "checkForUpdates": False}))
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_TOKEN")}
    env.update(JUPYTER_CONFIG_DIR=str(jupyter / "config"), JUPYTER_DATA_DIR=str(jupyter / "data"),
               JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(jupyter / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"), IPYTHONDIR=str(jupyter / "ipython"),
               JUPYTER_PREFER_ENV_PATH="1")
    token = secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={_free_port()}", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def started() -> str | None:
            assert server.poll() is None, f"JupyterLab exited with {server.returncode}:\n{_tail(log)}"
            info = next((jupyter / "runtime").glob(f"jpserver-{server.pid}.json"), None)
            if info is None:
                return None
            url = json.loads(info.read_text())["url"].rstrip("/")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                    return url
            except (urllib.error.URLError, OSError):
                return None

        url = _wait(f"JupyterLab to answer on loopback (log: {log})", SERVER_START_S, started)
        yield Lab(url=url, token=token, root=root, log=log)
    finally:
        # SIGTERM: the server shuts its kernels down before it exits
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


# the notebook widget of `path` in the main area, from the app JupyterLab exposes to the page
_PANEL = """const app = window.jupyterapp;
const panel = app && [...app.shell.widgets('main')].find(w => w.context?.path === arguments[0]);"""
_OPENED = _PANEL + """
const kernel = panel?.sessionContext.session?.kernel;
return Boolean(panel?.context.isReady && panel.sessionContext.isReady && kernel?.connectionStatus === 'connected'
               && kernel.status === 'idle');"""
_PROGRESS = _PANEL + """
return {status: panel.node.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
        dialog: document.querySelector('.jp-Dialog')?.innerText,
        prompts: Array.from(panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(p => p.textContent)};"""
# per code cell: its execution count, errors and image outputs in the model, and the images drawn in the page
_CELLS = _PANEL + """
return panel.content.widgets.flatMap((cell, index) => {
  if (cell.model.type !== 'code') return [];
  const outputs = cell.model.outputs.toJSON();
  const drawn = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output img'));
  drawn.forEach(img => img.scrollIntoView({block: 'center'}));
  return [{index, count: cell.model.executionCount, source: cell.model.sharedModel.getSource().split('\\n')[0],
           errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
           images: outputs.filter(o => Object.keys(o.data ?? {}).some(k => k.startsWith('image/'))).length,
           drawn: drawn.map(img => ({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
                                     png: img.src.startsWith('data:image/png;base64,') ? img.src.slice(22) : null}))}];
});"""


def _run_all(driver: webdriver.Chrome, lab: Lab, path: str) -> list[dict]:
    """Open ``path`` in JupyterLab, click Run > Run All Cells, wait for the kernel to go idle; the code cells."""
    driver.get(f"{lab.url}/lab/tree/{path}?token={lab.token}")
    _wait(f"{path} to open with an idle kernel (server log: {lab.log})", NOTEBOOK_OPEN_S,
          lambda: driver.execute_script(_OPENED, path))
    driver.find_element(By.XPATH, "//li[contains(@class, 'lm-MenuBar-item')][normalize-space()='Run']").click()
    _wait("the Run menu", 10, lambda: driver.find_elements(By.CSS_SELECTOR, "li[data-command='runmenu:run-all']"))
    driver.find_element(By.CSS_SELECTOR, "li[data-command='runmenu:run-all']").click()

    started, settled = [False], [0]

    def finished() -> bool:
        state = driver.execute_script(_PROGRESS, path)
        assert not state["dialog"], f"'Run All Cells' in {path} opened a dialog: {state['dialog']!r}"
        running = state["status"] != "idle" or any("*" in p for p in state["prompts"])
        started[0] |= any("*" in p or p.strip("[]: ").isdigit() for p in state["prompts"])
        settled[0] = 0 if running or not started[0] else settled[0] + 1
        return settled[0] >= 3  # idle with nothing queued on three polls in a row

    _wait(f"'Run All Cells' in {path} to finish", RUN_ALL_S, finished)
    return driver.execute_script(_CELLS, path)


def _screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole notebook in one picture: the window made as tall as its scroll height (at most 12000 px)."""
    height = driver.execute_script(
        "return Math.max(...Array.from(document.querySelectorAll('.jp-WindowedPanel-outer')).map(e => e.scrollHeight))")
    driver.set_window_size(1400, min(int(height) + 250, 12000))
    driver.execute_script("document.querySelectorAll('.jp-WindowedPanel-outer').forEach(e => e.scrollTop = 0)")
    time.sleep(1.0)
    driver.save_screenshot(str(path))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_all_cells_in_jupyterlab_and_shows_its_figures(name, lab, browser, tmp_path, capsys):
    started = time.monotonic()
    cells = _run_all(browser, lab, f"notebooks/{name}.ipynb")
    shot = tmp_path / f"{name}.png"
    _screenshot(browser, shot)
    with capsys.disabled():
        print(f"\n{name}.ipynb: Run All Cells in {time.monotonic() - started:.0f} s, screenshot {shot}")

    for cell in cells:
        where = f"{name}.ipynb cell {cell['index']} ({cell['source']!r})"
        assert not cell["errors"], f"{where} failed: {'; '.join(cell['errors'])}"
        assert cell["count"] is not None, f"{where} was not run by 'Run All Cells'"
        assert len(cell["drawn"]) == cell["images"], (
            f"{where}: {cell['images']} image outputs but {len(cell['drawn'])} images in the page")
        for img in cell["drawn"]:
            assert img["complete"] and img["width"] > 0 and img["height"] > 0, f"{where}: an image did not render"
    drawn = {c["index"]: len(c["drawn"]) for c in cells if c["drawn"]}
    expected = [c["index"] for c in cells if c["source"].startswith(tuple(FIGURES[name]))]
    assert len(expected) == len(FIGURES[name]), f"{name}.ipynb: cells {FIGURES[name]} not all found"
    assert drawn == dict.fromkeys(expected, 1), (
        f"{name}.ipynb drew images in cells {drawn}, expected one in each of cells {expected} (screenshot {shot})")
    if name in SAVED:
        shown = base64.b64decode(next(img["png"] for c in cells for img in c["drawn"]))
        assert shown == (lab.root / SAVED[name]).read_bytes(), f"{name}.ipynb shows another image than {SAVED[name]}"
