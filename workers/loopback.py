"""A small threaded HTTP server on 127.0.0.1: replays serve a corpus with it, tests and benchmarks their pages.

The site is one function from (path, request headers) to (status, headers, body), or None for a 404.
A body given as an iterable of chunks is streamed, flushing each chunk (trickling or endless servers).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Body = bytes | Iterable[bytes]
Response = tuple[int, dict[str, str], Body]
Responder = Callable[[str, dict[str, str]], Response | None]

NOT_FOUND: Response = (404, {"Content-Type": "text/plain"}, b"not found")


class LoopbackSite:
    def __init__(self, respond: Responder) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                # A client that gives up (a size cap, a timeout, a killed worker) is not an error here.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    headers = {key.lower(): value for key, value in self.headers.items()}
                    self._send(respond(self.path, headers) or NOT_FOUND)

            def _send(self, response: Response) -> None:
                status, headers, body = response
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if isinstance(body, bytes):
                    if not any(key.lower() == "content-length" for key in headers):
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                for chunk in body:
                    self.wfile.write(chunk)
                    self.wfile.flush()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LoopbackSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
