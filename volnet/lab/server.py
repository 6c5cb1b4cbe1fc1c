"""The lab's web server: a few routes over a Lab, behind a token, serving only its own files.

Why starlette + uvicorn: the page needs a stream from the server (curve points, layer cards)
and requests back (controls, uploads, drill-downs). An ASGI app gives both in one process with
WebSockets, which carry the stream in both directions without polling; starlette is small
(routing, requests, a test client that speaks WebSocket without a browser) and uvicorn is its
usual server. The training runs in the Lab's own thread, so the event loop only moves bytes.

Routes (every one refused with 403 without the token):

    GET  /                 the page (sets the token as a SameSite=Strict cookie for its assets)
    GET  /static/NAME      the page's own files, by name from a fixed list: no path is ever joined
    WS   /events           the stream: what Lab.hello() gives, then every update (volnet.lab.wire)
    GET  /state            the Lab's state as JSON
    POST /control          {"action": "pause"|"resume"|"step", "lr", "momentum", "weight_decay",
                            "batch_size", "optimizer"}
    POST /restart          {"architecture", "dataset"}: fresh weights
    POST /look             {"index": n}: look at test image n
    POST /upload           an image file's bytes (at most MAX_IMAGE_BYTES): classified and looked at
    POST /probe            a drill-down (Lab.probe)
    GET  /snapshot         the model now, as model.npz
    POST /model            a model.npz's bytes (at most MAX_MODEL_BYTES), loaded to be looked at

The token is given as ?token=..., an X-Volnet-Token header or the cookie. Errors in what the
page sends answer 400 with {"error": volnet's one-line message}; a body over its limit, 413.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import socket
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from volnet.lab.session import Lab

COOKIE = "volnet_lab_token"
HEADER = "x-volnet-token"
MAX_JSON_BYTES = 64 * 1024
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_MODEL_BYTES = 64 * 1024 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".png": "image/png"}


def static_files() -> dict[str, bytes]:
    """The page's files, by name: everything in volnet/lab/static (read once)."""
    folder = resources.files("volnet.lab") / "static"
    return {entry.name: entry.read_bytes() for entry in folder.iterdir()
            if entry.is_file() and "." + entry.name.rpartition(".")[2] in MEDIA_TYPES}


class TokenGate:
    """ASGI middleware: refuse every HTTP request and WebSocket that does not carry the token."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            connection = HTTPConnection(scope)
            given = (connection.query_params.get("token") or connection.headers.get(HEADER)
                     or connection.cookies.get(COOKIE) or "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "token missing or wrong"})
                    return
                response = Response("403: this volnet lab wants the token of the URL it printed "
                                    "(…/?token=…)\n", status_code=403, media_type="text/plain")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TooLarge(ValueError):
    """A request body over its limit."""


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, read no further than `limit` bytes, whatever Content-Length says."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the upload is larger than the {limit // 1024:,} KiB the lab accepts here")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> dict:
    text = await _body(request, MAX_JSON_BYTES)
    try:
        value = json.loads(text or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"the request is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"the request must be a JSON object, got {type(value).__name__}")
    return value


def _answer(work):
    """A route that runs work(request) -> result in a worker thread, with errors as 400/413 JSON."""

    async def route(request: Request):
        from volnet.errors import describe, flag

        try:
            result = await work(request)
        except TooLarge as error:
            return JSONResponse({"error": str(error)}, status_code=413)
        except (ValueError, TypeError, OSError) as error:
            return JSONResponse({"error": describe(error, flag)}, status_code=400)
        return result if isinstance(result, Response) else JSONResponse(result)

    return route


def create_app(lab: Lab, token: str) -> TokenGate:
    """The ASGI app of the module doc, serving `lab`; every request must carry `token`."""
    files = static_files()

    async def index(request: Request):
        response = Response(files["index.html"], media_type=MEDIA_TYPES[".html"],
                            headers={"Cache-Control": "no-store"})
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    async def static(request: Request):
        name = request.path_params["name"]
        if name not in files:
            return Response(f"404: the lab has no file {name!r}\n", status_code=404, media_type="text/plain")
        return Response(files[name], media_type=MEDIA_TYPES["." + name.rpartition(".")[2]])

    async def state(request):
        return await run_in_threadpool(lab.state)

    async def control(request):
        return await run_in_threadpool(lab.control, await _json(request))

    async def restart(request):
        values = await _json(request)
        return await run_in_threadpool(lab.restart, values.get("architecture"), values.get("dataset"))

    async def look(request):
        return await run_in_threadpool(lab.look_at, (await _json(request)).get("index"))

    async def upload(request):
        return await run_in_threadpool(lab.look_at, None, await _body(request, MAX_IMAGE_BYTES))

    async def probe(request):
        return await run_in_threadpool(lab.probe, await _json(request))

    async def snapshot(request):
        content = await run_in_threadpool(lab.snapshot)
        return Response(content, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="model.npz"'})

    async def load(request):
        return await run_in_threadpool(lab.load_model_bytes, await _body(request, MAX_MODEL_BYTES))

    async def events(websocket: WebSocket):
        await websocket.accept()
        try:
            client = lab.broker.add(asyncio.get_running_loop())
        except ValueError as error:
            await websocket.close(code=1013, reason=str(error))
            return
        closed = asyncio.create_task(_until_closed(websocket))
        try:
            for message in await run_in_threadpool(lab.hello):
                await websocket.send_text(json.dumps(message, allow_nan=False))
            while not closed.done():
                ready = asyncio.create_task(client.ready.wait())
                await asyncio.wait({ready, closed}, return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()
                for text in client.take():
                    await websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the tab has gone
        finally:
            closed.cancel()
            lab.broker.remove(client)

    post = ["POST"]
    routes = [Route("/", index), Route("/static/{name:path}", static), WebSocketRoute("/events", events),
              Route("/state", _answer(state)), Route("/control", _answer(control), methods=post),
              Route("/restart", _answer(restart), methods=post), Route("/look", _answer(look), methods=post),
              Route("/upload", _answer(upload), methods=post), Route("/probe", _answer(probe), methods=post),
              Route("/snapshot", _answer(snapshot)), Route("/model", _answer(load), methods=post)]
    return TokenGate(Starlette(routes=routes), token)


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the tab sends until it goes."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def new_token() -> str:
    return secrets.token_urlsafe(24)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free one).

    Raises:
        OSError: the port is taken or the host is not an address of this machine (the message says which).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"--host {host} --port {port}: cannot listen there ({error.strerror or error})") from None
    sock.listen(64)
    return sock


def url_of(sock: socket.socket, token: str) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def make_server(app):
    """A uvicorn server for the app; run it on a bound socket with .run(sockets=[listening_socket(...)])."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                         ws_max_size=MAX_JSON_BYTES))
