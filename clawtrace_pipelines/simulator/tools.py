"""The OpenClaw tools the simulated agents call: params, results, failures and how long they take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from clawtrace_pipelines.simulator.catalog import CHANNELS, TOPICS, Weighted

WORKSPACE = "/home/node/.openclaw/workspace"

_COMMANDS = [
    "git status --short",
    "git log --oneline -n 20",
    "npm test -- --runInBand",
    "pytest -x -q tests/unit",
    "docker ps --format '{{.Names}} {{.Status}}'",
    "df -h /",
    "du -sh ~/Downloads/* | sort -h | tail -n 15",
    "gh run list --limit 5",
    "gh pr create --fill --base main",
    "uv lock --upgrade-package requests",
    "curl -s https://status.example-pay.com/api/v2/status.json",
    "grep -rn 'round(' src/billing/",
    "python scripts/reconcile.py --month 2025-03",
    "ls -la docs/",
]
_PATHS = [
    "README.md",
    "MEMORY.md",
    "HEARTBEAT.md",
    "src/billing/invoice.py",
    "src/api/routes/orders.py",
    "tests/test_invoice.py",
    "package.json",
    ".github/workflows/ci.yml",
    "notes/customers/refund-48213.md",
    "drafts/reply.md",
    "docs/quickstart.md",
    "data/expenses-2025-03.csv",
]
_QUERIES = [
    "retrieval augmented generation survey 2025",
    "lisbon berlin flights thursday morning",
    "agent observability tracing opentelemetry genai",
    "CVE requests 2.31",
    "best practices prompt caching anthropic",
    "payment provider status degraded",
]
_URLS = [
    "https://arxiv.org/abs/2501.01234",
    "https://www.skyscanner.net/transport/flights/lis/ber/",
    "https://github.com/openclaw/openclaw/issues/2217",
    "https://status.example-pay.com/",
    "https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching",
    "https://news.ycombinator.com/item?id=43120990",
]
_SNIPPET = (
    "{title}: results show that careful context management reduces token spend by 30-60% while keeping "
    "answer quality; see section 4 for the cost breakdown per step."
)
_FILE_TEXT = (
    "def round_invoice(total: Decimal) -> Decimal:\n    # banker's rounding bit us in March\n"
    "    return total.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)\n"
)


def _text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}]}


def _exec_params(rng: Random) -> dict[str, Any]:
    return {"command": rng.choice(_COMMANDS), "workdir": WORKSPACE, "timeout": 120}


def _exec_result(rng: Random, params: dict[str, Any]) -> dict[str, Any]:
    out = _text(f"$ {params['command']}\n" + "\n".join(rng.sample(_PATHS, 3)) + "\n")
    out["details"] = {"exitCode": 0, "cwd": WORKSPACE}
    return out


def _read_result(rng: Random, params: dict[str, Any]) -> dict[str, Any]:
    # Collectors cap large strings; the token count the model saw is larger (see `result_tokens`).
    return _text(_FILE_TEXT + f"\n...[truncated {rng.randint(800, 40_000)} chars]")


def _search_result(rng: Random, params: dict[str, Any]) -> dict[str, Any]:
    hits = [
        {"title": f"{params['query']} ({i + 1})", "url": url, "snippet": _SNIPPET.format(title=url)}
        for i, url in enumerate(rng.sample(_URLS, 3))
    ]
    return {"query": params["query"], "provider": "brave", "results": hits}


def _fetch_result(rng: Random, params: dict[str, Any]) -> dict[str, Any]:
    text = _SNIPPET.format(title=params["url"])
    return {"url": params["url"], "status": 200, "extractMode": "markdown", "text": text}


def _memory_result(rng: Random, params: dict[str, Any]) -> dict[str, Any]:
    day = rng.randint(1, 28)
    hits = [{"path": f"memory/2025-06-{day:02d}.md", "score": round(rng.uniform(0.4, 0.95), 3)}]
    return {"results": hits, "provider": "openai", "model": "text-embedding-3-small"}


@dataclass(frozen=True)
class ToolSpec:
    """One tool: how its params and results look, how it fails and how long it runs (ms)."""

    name: str
    params: Callable[[Random], dict[str, Any]]
    result: Callable[[Random, dict[str, Any]], Any]
    errors: tuple[str, ...]
    error_rate: float
    duration: tuple[int, int]
    result_tokens: tuple[int, int]


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec(
            "exec",
            _exec_params,
            _exec_result,
            ("Command exited with code 1", "Command timed out after 120 seconds", "exec denied: not allowlisted"),
            0.09,
            (40, 25_000),
            (50, 3_000),
        ),
        ToolSpec(
            "read",
            lambda rng: {"path": rng.choice(_PATHS)},
            _read_result,
            ("ENOENT: no such file or directory",),
            0.05,
            (2, 40),
            (200, 8_000),
        ),
        ToolSpec(
            "write",
            lambda rng: {"path": rng.choice(_PATHS), "content": _FILE_TEXT},
            lambda rng, p: _text(f"Successfully wrote {len(_FILE_TEXT)} bytes to {p['path']}"),
            ("EACCES: permission denied",),
            0.02,
            (2, 30),
            (20, 60),
        ),
        ToolSpec(
            "edit",
            lambda rng: {"path": rng.choice(_PATHS), "oldText": "ROUND_HALF_EVEN", "newText": "ROUND_HALF_UP"},
            lambda rng, p: _text(f"Successfully replaced text in {p['path']}."),
            ("Could not find the exact text to replace in the file.",),
            0.08,
            (2, 30),
            (20, 80),
        ),
        ToolSpec(
            "web_search",
            lambda rng: {"query": rng.choice(_QUERIES), "count": 5},
            _search_result,
            ("web_search failed: Brave Search API error (429): rate limit exceeded",),
            0.04,
            (400, 3_500),
            (400, 2_500),
        ),
        ToolSpec(
            "web_fetch",
            lambda rng: {"url": rng.choice(_URLS), "extractMode": "markdown", "maxChars": 50_000},
            _fetch_result,
            ("web_fetch failed (403): Forbidden", "fetch failed: ETIMEDOUT"),
            0.1,
            (300, 8_000),
            (1_000, 12_000),
        ),
        ToolSpec(
            "browser",
            lambda rng: {"action": rng.choice(["snapshot", "navigate", "click"]), "targetUrl": rng.choice(_URLS)},
            lambda rng, p: {"ok": True, "action": p["action"], "url": p["targetUrl"], "refs": rng.randint(5, 90)},
            ("Timeout 30000ms exceeded while waiting for navigation",),
            0.08,
            (800, 30_000),
            (500, 6_000),
        ),
        ToolSpec(
            "memory_search",
            lambda rng: {"query": rng.choice(_QUERIES + TOPICS), "maxResults": 5},
            _memory_result,
            ("memory index is not ready (reindexing)",),
            0.02,
            (80, 900),
            (100, 1_200),
        ),
        ToolSpec(
            "message",
            lambda rng: {
                "action": "send",
                "channel": rng.choice(CHANNELS),
                "to": str(rng.randint(10_000, 99_999_999)),
                "message": "Update: the task is done, details in the thread.",
            },
            lambda rng, p: {"ok": True, "messageId": str(rng.randint(1_000, 999_999))},
            ("send failed: 400 Bad Request: chat not found",),
            0.03,
            (150, 1_500),
            (20, 60),
        ),
    ]
}

WORK_TOOLS = Weighted(
    [
        (TOOLS["exec"], 25),
        (TOOLS["read"], 22),
        (TOOLS["write"], 8),
        (TOOLS["edit"], 10),
        (TOOLS["web_search"], 10),
        (TOOLS["web_fetch"], 8),
        (TOOLS["browser"], 4),
        (TOOLS["memory_search"], 8),
        (TOOLS["message"], 5),
    ]
)
SUBAGENT_TOOLS = Weighted([(TOOLS["web_search"], 3), (TOOLS["web_fetch"], 3), (TOOLS["read"], 3), (TOOLS["exec"], 2)])

# OpenClaw fires `after_tool_call` a second time from its global hook path for these tools.
SHADOWED_TOOLS = frozenset({"exec", "write", "sessions_spawn"})
