"""A learner's first minute, in a real browser: JupyterLab opens notebook 00, runs it, shows the scrubber.

Starts JupyterLab on 127.0.0.1 with a random token and isolated config/runtime folders, drives
Debian's chromium through Playwright (never a downloaded browser), runs all cells, waits for the
frame-scrubber widget, moves its slider, and stops every process it started. Skipped when chromium
is missing, except in CI (`CI=true`), where a missing browser is a failure.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import course  # noqa: E402  (the set-up script at the repository root)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/00_tour.py"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture
def chromium():
    """A headless chromium (the system's, through Playwright; it never downloads one). Skipped where none is
    installed, except under CI=true, where `.ci/run` installs it and its absence is a failure."""
    path = find_chromium()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but chromium is missing: .ci/run should have installed it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium); the browser check needs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free local port whose settings, workspaces and runtime are throwaway."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())
    course.write_lab_settings(Path(env["JUPYTER_CONFIG_DIR"]))  # what `course.py lab` sets up
    # Serve a copy, so that nothing JupyterLab does (autosave, metadata on save) touches the repo.
    served = tmp_path / "course"
    (served / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / NOTEBOOK, served / NOTEBOOK)
    shutil.copy(ROOT / "jupytext.toml", served / "jupytext.toml")
    token, port = secrets.token_hex(16), free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
           ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"))
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}")
        yield f"http://127.0.0.1:{port}", token
    finally:
        stop_process_tree(server)


def stop_process_tree(process: subprocess.Popen) -> None:
    """Stop the server and every kernel it started, so no process outlives the test."""
    import psutil

    children = psutil.Process(process.pid).children(recursive=True)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    for child in children:
        if child.is_running():
            child.kill()
    psutil.wait_procs(children, timeout=5)


def test_notebook_00_runs_and_shows_the_scrubber(jupyterlab, chromium, tmp_path):
    base, token = jupyterlab
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    # "Run All" sent before the kernel is connected is silently dropped: wait for the
    # status bar to say the kernel is idle, and retry once if no cell starts running.
    page.wait_for_selector(".jp-StatusBar-Widget :text('Idle')", timeout=60_000)
    for attempt in range(2):
        page.click("text=Run", timeout=10_000)
        page.click("li[data-command='runmenu:run-all']", timeout=10_000)
        try:
            page.wait_for_selector(".jp-InputPrompt:has-text('[*]'), .jp-InputPrompt:has-text('[1]')",
                                   timeout=15_000)
            break
        except Exception:
            if attempt == 1:
                raise
    slider = page.wait_for_selector(".jp-OutputArea .widget-slider", timeout=120_000)
    assert slider.is_visible()
    images = page.query_selector_all(".jp-OutputArea .widget-image, .jp-OutputArea .jupyter-widgets img")
    assert images, "the scrubber rendered no frame image"
    widths = [image.evaluate("img => img.naturalWidth") for image in images]
    assert all(w > 0 for w in widths), f"a scrubber frame image is empty (natural widths {widths})"
    readout = page.query_selector(".jp-OutputArea .widget-readout")
    before = readout.inner_text() if readout else None
    handle = page.query_selector(".jp-OutputArea .noUi-handle, .jp-OutputArea .widget-slider .ui-slider-handle")
    if handle is not None:
        handle.click()
        page.keyboard.press("End")
        if readout is not None:
            page.wait_for_function("([el, old]) => el.innerText !== old", arg=[readout, before], timeout=10_000)
    page.wait_for_selector(".jp-InputPrompt:has-text('[*]')", state="detached", timeout=120_000)
    errors = page.query_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [e.inner_text() for e in errors if "Traceback" in e.inner_text() or "Error" in e.inner_text()]
    assert not tracebacks, f"a cell failed in the browser: {tracebacks[0][:2000]}"
    page.screenshot(path=str(tmp_path / "notebook_00.png"), full_page=False)
