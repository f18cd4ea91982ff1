"""``lstm-tui serve`` in a real browser: headless Chromium, driven over its DevTools protocol.

The page loads and starts the app; typing gives suggestions; F5 trains. What the app draws is
read from the WebSocket frames the page receives (xterm.js paints on a canvas, with no text
in the page): the terminal output, where the suggestion row and the training state appear as
text. Skipped where Chromium or textual-serve is missing (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;:?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Page:
    """One Chromium tab over CDP: navigate, type, and collect what the page's sockets receive."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.received = ""  # the terminal output, as text
        self._replies: dict[int, asyncio.Future] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._replies:
                self._replies.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.webSocketFrameReceived":
                response = data["params"]["response"]
                payload = response["payloadData"]
                if response.get("opcode") == 2:  # binary: base64
                    payload = base64.b64decode(payload).decode("utf-8", "replace")
                self.received += ANSI.sub("", payload)  # the text, without its styling

    async def send(self, method: str, **params: object) -> dict:
        n = next(self.ids)
        self._replies[n] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
        return await asyncio.wait_for(self._replies[n], 30)

    async def key(self, key: str, code: int, text: str = "") -> None:
        common = {"key": key, "code": key, "windowsVirtualKeyCode": code}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text=text, **common)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    async def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.received:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True


@pytest.mark.timeout(300)
def test_the_app_served_to_a_browser_suggests_and_trains(tmp_path: Path) -> None:
    port, debug_port = free_port(), free_port()
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "lstm_tui", "serve", "--port", str(port), "--", "--device", "cpu"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    profile = tempfile.mkdtemp(prefix="lstm-tui-chromium-")
    browser = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={debug_port}",
            "--window-size=1600,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://localhost:{port}/", 60)
        wait_http(f"http://127.0.0.1:{debug_port}/json/version", 60)
        asyncio.run(drive_the_page(port, debug_port))
    finally:
        for process in (browser, server):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


async def drive_the_page(port: int, debug_port: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
            targets = await response.json()
        page_target = next(t for t in targets if t["type"] == "page")
        async with http.ws_connect(page_target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            await page.send("Network.enable")
            await page.send("Page.enable")
            await page.send("Page.navigate", url=f"http://localhost:{port}/")
            # The page loads and the app starts in it: its header, then the shipped model.
            assert await page.wait_for("lstm-tui", 60), page.received[-2000:]
            assert await page.wait_for("saved", 120), "the model did not load"
            await page.send("Input.dispatchMouseEvent", type="mousePressed", x=800, y=500,
                            button="left", clickCount=1)  # fmt: skip
            await page.send("Input.dispatchMouseEvent", type="mouseReleased", x=800, y=500,
                            button="left", clickCount=1)  # fmt: skip
            seen = len(page.received)
            for char in "the mice ":
                await page.key(char if char != " " else " ", ord(char.upper()), text=char)
            # The suggestion, as ghost text after what was typed: the shipped model's top word
            # after "the mice" is "had".
            row = re.compile(r"the mice had\s")
            deadline = time.monotonic() + 30
            while not row.search(page.received[seen:]) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert row.search(page.received[seen:]), page.received[seen:][-2000:]
            assert "▶ training" not in page.received
            await page.key("F5", 116)
            assert await page.wait_for("▶ training", 60), page.received[-2000:]
            page._reader.cancel()
