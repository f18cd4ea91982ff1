"""``lstm-tui serve`` owns its app processes (issue 16, items 3 and 14).

A browser is played by an aiohttp WebSocket client speaking textual-serve's protocol, so these
run without Chromium. Every process the server starts carries a marker in its environment;
the tests count live processes by it: none may outlive its browser or the server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts processes in /proc")

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _marked(mark: str) -> list[int]:
    found = []
    needle = f"LSTM_TUI_TEST_MARK={mark}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(pid))
        except OSError:
            continue
    return found


class Served:
    """``lstm-tui serve`` in a subprocess, and the processes it runs."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.mark = uuid.uuid4().hex
        self.port = _free_port()
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "PYTHONPATH": str(REPO),
            "LSTM_TUI_TEST_MARK": self.mark,
        }
        command = [sys.executable, "-m", "lstm_tui", "serve", "--port", str(self.port), *args]
        self.process = subprocess.Popen(
            [*command, "--", "--device", "cpu", "--fresh"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def children(self) -> list[int]:
        return [p for p in _marked(self.mark) if p != self.process.pid]

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.children():
            os.kill(pid, signal.SIGKILL)


async def _wait_until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def _up(http, url: str) -> int:  # type: ignore[no-untyped-def]
    for _ in range(300):
        try:
            async with http.get(url) as response:
                return response.status
        except aiohttp.ClientError:
            await asyncio.sleep(0.2)
    raise AssertionError("the server did not start")


async def _browser(http, port: int):  # type: ignore[no-untyped-def]
    """A tab: the page's WebSocket, once the app has drawn its first screen."""
    ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24")
    received = 0
    while received < 1000:  # the app's first frames
        message = await ws.receive(timeout=120)
        assert message.type == aiohttp.WSMsgType.BINARY, message
        received += len(message.data)
    return ws


@pytest.mark.timeout(300)
def test_each_child_ends_with_its_browser_and_the_limit_holds(tmp_path: Path) -> None:
    served = Served(tmp_path, "--host", "127.0.0.1", "--max-clients", "1")

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            assert await _up(http, f"http://127.0.0.1:{served.port}/") == 200
            ws = await _browser(http, served.port)
            assert len(served.children()) == 1
            # 14: a second tab is refused (not a second whole app started).
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"http://127.0.0.1:{served.port}/ws")
            assert refused.value.status == 503
            async with http.get(f"http://127.0.0.1:{served.port}/") as page:
                assert page.status == 503 and "--max-clients" in await page.text()
            # 3: the browser goes; its app must not be left running.
            await ws.close()
            assert await _wait_until(lambda: not served.children(), 30), served.children()
            # The slot is free again (once the child is gone: the limit counts processes,
            # not pages); then the server stops with a child running.
            for _ in range(50):
                async with http.get(f"http://127.0.0.1:{served.port}/") as page:
                    if page.status == 200:
                        break
                await asyncio.sleep(0.1)
            tab = await _browser(http, served.port)
            assert not tab.closed
            assert len(served.children()) == 1
            served.process.send_signal(signal.SIGTERM)
            ended = await _wait_until(lambda: served.process.poll() is not None, 30)
            assert ended, "the server did not stop"
            assert await _wait_until(lambda: not served.children(), 30), served.children()

    try:
        asyncio.run(scenario())
    finally:
        served.end()


@pytest.mark.timeout(120)
def test_beyond_loopback_a_warning_and_a_token(tmp_path: Path) -> None:
    served = Served(tmp_path, "--host", "0.0.0.0", "--token", "s3cret-token")

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{served.port}"
            assert await _up(http, f"{base}/") == 403
            async with http.get(f"{base}/?token=wrong") as page:
                assert page.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{base}/ws")
            assert refused.value.status == 403
            async with http.get(f"{base}/?token=s3cret-token") as page:
                assert page.status == 200
            assert not served.children()  # nothing started for those who had no token

    try:
        asyncio.run(scenario())
        served.process.send_signal(signal.SIGTERM)
        _, err = served.process.communicate(timeout=30)
        assert "warning" in err and "0.0.0.0" in err and "?token=s3cret-token" in err, err
    finally:
        served.end()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(300)
def test_a_child_ends_when_the_server_is_killed(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup in the server: before, its app child was left behind, at 100%
    CPU once its input closed (issue 16, item 3)."""
    served = Served(tmp_path, "--host", "127.0.0.1")

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            assert await _up(http, f"http://127.0.0.1:{served.port}/") == 200
            tab = await _browser(http, served.port)  # held open: the browser stays
            await asyncio.sleep(5)  # the app settled: loaded, drawing, waiting for keys
            assert served.children() and not tab.closed
            served.process.kill()
            served.process.wait()
            assert await _wait_until(lambda: not served.children(), 30), served.children()

    try:
        asyncio.run(scenario())
    finally:
        served.end()
