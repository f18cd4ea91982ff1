"""``lstm-tui serve``: the app in a browser, one app process per browser tab.

textual-serve starts a whole app per WebSocket, and by itself keeps no count of them, asks
nothing of who connects, and leaves a child running when it does not answer the "quit" it is
sent. Here every child has one owner, the connection that started it:

* at most ``--max-clients`` at once (each holds a model: a seventh tab is refused, not a
  seventh model loaded);
* beyond loopback, a warning and a token: the app opens and saves files as the user who
  started the server, so a browser must bring ``?token=…`` once (it is then kept in an
  HttpOnly cookie, which the page's WebSocket sends back);
* when its browser goes, the child is asked to quit, then terminated, then killed; when the
  server stops, every child is; and the kernel ends the child if the server dies by SIGKILL
  (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import secrets
import shlex
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from lstm_tui.core.errors import UserError
from lstm_tui.core.text.safe_text import visible

if TYPE_CHECKING:
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

QUIT_GRACE_SECONDS = 3.0  # a child that has not quit by then is terminated
TERM_GRACE_SECONDS = 3.0  # and killed if SIGTERM has not ended it by then
TOKEN_COOKIE = "lstm_tui_token"


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from textual_serve.server import Server  # noqa: F401
    except ImportError:
        raise UserError("serve needs textual-serve: pip install textual-serve") from None
    addresses = _addresses(args.host, args.port)
    _check_port_free(addresses, args.host, args.port)
    loopback = all(ipaddress.ip_address(a[4][0].split("%")[0]).is_loopback for a in addresses)
    token = None
    if not loopback:
        token = args.token or secrets.token_urlsafe(16)
        url = args.public_url or f"http://{args.host}:{args.port}"
        print(
            f"lstm-tui: warning: serving on {visible(args.host)}, beyond this machine: whoever "
            "reaches this port with the token can open, train and save files as you. Open "
            f"{visible(url)}/?token={visible(token)}",
            file=sys.stderr,
            flush=True,
        )
    app_args = [a for a in args.app_args if a != "--"]
    command = shlex.join([sys.executable, "-m", "lstm_tui", *app_args])
    server = _make_server(
        command,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        max_clients=args.max_clients,
        token=token,
    )
    try:
        server.serve()
    except OSError as e:  # e.g. taken between the check and the bind
        raise UserError(f"cannot serve on {args.host}:{args.port}: {e.strerror or e}") from None
    return 0


def _addresses(host: str, port: int) -> list:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = e.strerror if isinstance(e, socket.gaierror) else str(e)
        raise UserError(f"--host {host!r}: no such address ({reason})") from None
    return found


def _check_port_free(addresses: list, host: str, port: int) -> None:
    """A port in use is one line now, not a traceback from inside aiohttp."""
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            try:
                probe.bind(address)
            except OSError as e:
                raise UserError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None


def _make_server(
    command: str,
    *,
    host: str,
    port: int,
    public_url: str | None,
    max_clients: int,
    token: str | None,
) -> Server:
    """The server, built here so that textual-serve is imported only by ``serve``."""
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    from lstm_tui.core.lifetime import on_parent_death

    class OwnedAppService(AppService):
        """One app process, started without a shell (so that the pid is the app's own) and
        always ended by ``stop``."""

        async def _open_app_process(
            self, width: int = 80, height: int = 24
        ) -> asyncio.subprocess.Process:
            self._process = process = await asyncio.create_subprocess_exec(
                *shlex.split(self.command),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._build_environment(width=width, height=height),
                preexec_fn=on_parent_death(signal.SIGTERM),
            )
            self._stdin = process.stdin
            return process

        async def stop(self) -> None:
            process = self._process
            with contextlib.suppress(Exception):
                await asyncio.wait_for(super().stop(), QUIT_GRACE_SECONDS)
            if process is None or process.returncode is not None:
                return
            if process.stdin is not None:  # the app sees end of input
                with contextlib.suppress(Exception):
                    process.stdin.close()
            for send, grace in ((process.terminate, TERM_GRACE_SECONDS), (process.kill, None)):
                with contextlib.suppress(ProcessLookupError):
                    send()
                try:
                    await asyncio.wait_for(process.wait(), grace)
                    return
                except asyncio.TimeoutError:
                    continue
            with contextlib.suppress(Exception):
                await process.wait()  # after SIGKILL: reaped, never a zombie

    class OwningServer(Server):
        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, public_url=public_url)
            self.services: set[AppService] = set()

        def _allowed(self, request: web.Request) -> bool:
            if token is None:
                return True
            given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
            return hmac.compare_digest(given.encode(), token.encode())

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            if not self._allowed(request):
                raise web.HTTPForbidden(text="lstm-tui: open the address printed at start\n")
            if len(self.services) >= max_clients:
                raise web.HTTPServiceUnavailable(text=_full(max_clients))
            response = await super().handle_index(request)
            if token is not None:
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
            return response

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            if not self._allowed(request):
                raise web.HTTPForbidden(text="lstm-tui: no token\n")
            if len(self.services) >= max_clients:
                raise web.HTTPServiceUnavailable(text=_full(max_clients))
            return await _owned_websocket(self, request, OwnedAppService)

        async def on_shutdown(self, app: web.Application) -> None:
            await asyncio.gather(*(s.stop() for s in list(self.services)))

        async def on_startup(self, app: web.Application) -> None:
            await super().on_startup(app)
            self.console.print(f"[dim]At most {max_clients} browser(s) at once (--max-clients)")

    return OwningServer()


def _full(max_clients: int) -> str:
    return (
        f"lstm-tui: {max_clients} browser(s) already connected, the most allowed; close one "
        "and reload (serve --max-clients raises it)\n"
    )


async def _owned_websocket(
    server: Any, request: web.Request, service_class: type[AppService]
) -> web.WebSocketResponse:
    """textual-serve's ``handle_websocket`` with the service counted and always stopped."""
    from aiohttp import web
    from textual_serve.server import to_int

    websocket = web.WebSocketResponse(heartbeat=15)
    width = to_int(request.query.get("width", "80"), 80)
    height = to_int(request.query.get("height", "24"), 24)
    service = None
    try:
        await websocket.prepare(request)
        service = service_class(
            server.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            # As textual-serve passes it: its annotation says None, close() returns a bool.
            close=websocket.close,  # type: ignore[arg-type]
            download_manager=server.download_manager,
            debug=server.debug,
        )
        server.services.add(service)
        await service.start(width, height)
        await server._process_messages(websocket, service)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await websocket.close()
    except Exception as error:  # a malformed message from the browser: end this one only
        import logging

        logging.getLogger("textual-serve").warning("connection ended: %s", error)
    finally:
        if service is not None:
            try:
                await asyncio.shield(service.stop())
            finally:
                server.services.discard(service)
    return websocket
