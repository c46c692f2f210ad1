#!/usr/bin/env python3
"""Static file server for the demo page, as a CDN would serve it: correct MIME types
(application/wasm for streaming compilation), the strict Content-Security-Policy the page is
built for, and revalidation headers. Binds to loopback only.

    python3 scripts/serve.py [--port 8080] [--isolate-all] [DIR]

--isolate-all: every page cross-origin isolated, not only the bench pages (the memory bench:
performance.measureUserAgentSpecificMemory needs it).
"""
import argparse
import functools
import http.server
import mimetypes

CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
       "style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'self'")

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/octet-stream", ".gguf")
mimetypes.add_type("application/octet-stream", ".safetensors")


class Handler(http.server.SimpleHTTPRequestHandler):
    isolate_all = False

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        bench = self.path.startswith(("/bench/", "/bench.html", "/bench.js")) and not self.path.startswith("/bench/soak.")
        if self.isolate_all or bench:
            # Cross-origin isolation for the benchmark pages (every page with --isolate-all), so
            # that they can measure the tab's memory (performance.measureUserAgentSpecificMemory);
            # the widget needs none, nor does the soak page, which runs the widget's own worker as
            # the widget does.
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def copyfile(self, source, outputfile):
        try:
            super().copyfile(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away mid-download (a closed tab, a cancelled fetch)

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--isolate-all", action="store_true")
    ap.add_argument("dir", nargs="?", default="www")
    a = ap.parse_args()
    Handler.isolate_all = a.isolate_all
    handler = functools.partial(Handler, directory=a.dir)
    with http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler) as s:
        print(f"serving {a.dir} on http://127.0.0.1:{a.port}/", flush=True)
        s.serve_forever()


if __name__ == "__main__":
    main()
