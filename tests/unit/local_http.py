"""A real HTTP server on 127.0.0.1 for the download tests: static files with Range support.

`cut_once` makes the first full request for a file stop after that many bytes while the
header promises the whole file (a dropped connection); `html` serves a web page in place of
a file, as DataShare does when it wants a login or is down; `fail_once` answers the first
request for a file with that HTTP status. A client that hangs up early is not an error.
"""

from __future__ import annotations

import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that hangs up before the body (a download refused from its headers) is expected."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.cut_once: dict[str, int] = {}
        self.html: set[str] = set()
        self.fail_once: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.no_ranges = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.split("?")[0].lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                if name in server.fail_once:
                    self.send_error(server.fail_once.pop(name))
                    return
                if name in server.html:
                    body = b"<!DOCTYPE html><html><body>Please log in</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                path = server.root / name
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and not server.no_ranges:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                body = data[start:]
                cut = server.cut_once.pop(name, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
