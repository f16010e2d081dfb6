"""The UI's files as the API serves them: the page never cached stale, assets immutable under a content
hash, nothing outside the UI's folder reachable, a Content-Security-Policy of this origin only."""

from __future__ import annotations

import re

from clawtrace_api.web_ui import WEB_DIR, Assets
from tests.api_server import Running


def _version(page: str) -> str:
    match = re.search(r"/ui/([0-9a-f]{16})/js/app\.js", page)
    assert match, page
    return match.group(1)


def test_the_page_is_served_at_root_with_its_security_headers(api: Running) -> None:
    answer = api.client().get("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-cache"
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "{{version}}" not in answer.text and "http" not in answer.text.split("<body")[0].replace("http-equiv", "")


def test_assets_are_immutable_under_the_current_version_only(api: Running) -> None:
    client = api.client()
    version = _version(client.get("/").text)
    script = client.get(f"/ui/{version}/js/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "immutable" in script.headers["cache-control"] and "max-age=31536000" in script.headers["cache-control"]
    assert script.text == (WEB_DIR / "js" / "app.js").read_text()
    assert client.get(f"/ui/{version}/css/app.css").headers["content-type"].startswith("text/css")
    stale = client.get("/ui/0000000000000000/js/app.js")
    assert stale.status_code == 404 and stale.headers["content-type"].startswith("application/problem+json")


def test_nothing_outside_the_ui_folder_is_served(api: Running) -> None:
    client = api.client()
    version = _version(client.get("/").text)
    for path in ("../web_ui.py", "..%2fweb_ui.py", "index.html", "package.json", "node_modules/echarts/package.json"):
        answer = client.get(f"/ui/{version}/{path}", follow_redirects=True)
        assert answer.status_code == 404, path
        assert "def install" not in answer.text and "clawtrace-web-ui" not in answer.text


def test_echarts_comes_from_the_npm_lock(api: Running) -> None:
    client = api.client()
    version = _version(client.get("/").text)
    answer = client.get(f"/ui/{version}/vendor/echarts.min.js")
    assert answer.status_code == 200, "run make install (npm ci of clawtrace_api/web)"
    assert "echarts" in answer.text[:2000].lower()


def test_the_version_changes_with_any_asset(tmp_path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "index.html").write_text('<script src="/ui/{{version}}/js/a.js"></script>')
    (tmp_path / "js" / "a.js").write_text("1")
    first = Assets.load(tmp_path)
    (tmp_path / "js" / "a.js").write_text("2")
    second = Assets.load(tmp_path)
    assert first.version != second.version
    assert f"/ui/{second.version}/js/a.js".encode() in second.index
