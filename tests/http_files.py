"""A local HTTP server for the download tests (127.0.0.1 only: tests never touch the network).

    with serve_files({"/corpus.txt": b"..."}) as server:
        load_text(f"url:{server.url}/corpus.txt")
        assert server.hits == ["/corpus.txt"]       # every GET path, in order
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class FileServer:
    url: str                                       # http://127.0.0.1:PORT
    hits: list = field(default_factory=list)       # the path of every GET, in order


@contextlib.contextmanager
def serve_files(files: dict[str, bytes]) -> Iterator[FileServer]:
    """Serve `files` (path -> body; anything else is 404) until the block ends."""
    server = FileServer("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            server.hits.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
