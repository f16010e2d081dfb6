"""The web UI, served by the API itself: `/` is its page, `/ui/<version>/...` its scripts and styles.

Plain ES modules, no build step (clawtrace_api/web/README.md says why); ECharts, for Tracy's charts, comes
from the npm lock file (`make install`). `<version>` is a hash of every asset, so an asset is cached for a
year (immutable) and a changed UI is a new URL; the page itself is `no-cache`. Nothing is loaded from
elsewhere: the Content-Security-Policy allows this origin only.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from clawtrace_api.errors import Problem

WEB_DIR = Path(__file__).resolve().parent / "web"
# ECharts from the npm lock (clawtrace_api/web/package-lock.json), installed by `make install`.
VENDOR = {"vendor/echarts.min.js": WEB_DIR / "node_modules" / "echarts" / "dist" / "echarts.min.js"}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Assets:
    """The UI's files, read once at start: path under /ui/<version>/ -> (bytes, media type)."""

    version: str
    files: dict[str, tuple[bytes, str]]
    index: bytes

    @classmethod
    def load(cls, root: Path = WEB_DIR) -> Assets:
        files: dict[str, tuple[bytes, str]] = {}
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and path.suffix in _TYPES and not rel.startswith("node_modules/"):
                files[rel] = (path.read_bytes(), _TYPES[path.suffix])
        for rel, source in VENDOR.items():
            if source.is_file():
                files[rel] = (source.read_bytes(), _TYPES[source.suffix])
        digest = hashlib.sha256()
        for rel, (data, _) in sorted(files.items()):
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        version = digest.hexdigest()[:16]
        page = (root / "index.html").read_text(encoding="utf-8")
        return cls(version=version, files=files, index=page.replace("{{version}}", version).encode())


def install(app: FastAPI) -> None:
    """Serve the UI at `/` and its assets at `/ui/<version>/<path>` (not in the OpenAPI document)."""
    assets = Assets.load()
    mimetypes.add_type("text/javascript", ".js")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(assets.index, headers={"Cache-Control": "no-cache", **_SECURITY_HEADERS})

    @app.get("/ui/{version}/{path:path}", include_in_schema=False)
    async def asset(version: str, path: str) -> Response:
        found = assets.files.get(path) if version == assets.version else None
        if found is None:
            # An old version's URL (a page loaded before an upgrade) is not served stale: the page reloads.
            raise Problem(404, "not-found", "no such UI asset (reload the page)")
        data, media = found
        return Response(data, media_type=media, headers={"Cache-Control": IMMUTABLE, **_SECURITY_HEADERS})
