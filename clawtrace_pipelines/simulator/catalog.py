"""What the simulated agents talk to: providers and models, agent names, channels and prompts."""

from __future__ import annotations

from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from random import Random
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """A weighted choice with precomputed cumulative weights (`random.choices` rebuilds them per call)."""

    def __init__(self, items: list[tuple[T, float]]) -> None:
        self.items = [item for item, _ in items]
        self.cum = list(accumulate(weight for _, weight in items))
        self.total = self.cum[-1]

    def pick(self, rng: Random) -> T:
        return self.items[bisect(self.cum, rng.random() * self.total)]


@dataclass(frozen=True)
class ModelSpec:
    """A model as the simulator needs it.

    `cache` says how the provider reports prompt caching: `anthropic` (explicit cache reads and writes, fresh
    input tiny), `openai` (automatic prefix cache in 128-token steps from 1,024 tokens), `implicit` (a share
    of the repeated prefix is read from cache), `none`.
    """

    provider: str
    model: str
    cache: str
    tokens_per_s: int
    output: tuple[int, int]
    reasoning: bool = False

    @property
    def id_style(self) -> str:
        return "anthropic" if self.provider == "anthropic" else "openai"


SONNET = ModelSpec("anthropic", "claude-sonnet-4-5", "anthropic", 70, (60, 1800))
OPUS = ModelSpec("anthropic", "claude-opus-4-1", "anthropic", 35, (80, 2200))
HAIKU = ModelSpec("anthropic", "claude-haiku-4-5", "anthropic", 160, (20, 900))
GPT4O = ModelSpec("openai", "gpt-4o", "openai", 90, (40, 1500))
GPT41_MINI = ModelSpec("openai", "gpt-4.1-mini", "openai", 130, (20, 1000))
O3 = ModelSpec("openai", "o3", "openai", 60, (400, 6000), reasoning=True)
GEMINI_PRO = ModelSpec("google", "gemini-2.5-pro", "implicit", 90, (300, 4000), reasoning=True)
GEMINI_FLASH = ModelSpec("google", "gemini-2.5-flash", "implicit", 200, (40, 1500))
DEEPSEEK_CHAT = ModelSpec("deepseek", "deepseek-chat", "implicit", 50, (40, 1500))
DEEPSEEK_R = ModelSpec("deepseek", "deepseek-reasoner", "implicit", 45, (500, 6000), reasoning=True)
KIMI = ModelSpec("moonshot", "kimi-k2-0905-preview", "implicit", 45, (40, 1600))
QWEN_MAX = ModelSpec("qwen", "qwen-max", "implicit", 40, (40, 1500))
QWEN_CODER = ModelSpec("qwen", "qwen3-coder-plus", "implicit", 70, (60, 2500))
# No price library knows this one: cost analysis must show it as unpriced, not as zero.
GLM_AIR = ModelSpec("zhipu", "glm-4.6-air-preview", "none", 60, (40, 1200))

PRIMARY_MODELS = Weighted(
    [
        (SONNET, 30),
        (OPUS, 5),
        (HAIKU, 6),
        (GPT4O, 10),
        (GPT41_MINI, 7),
        (O3, 4),
        (GEMINI_PRO, 7),
        (GEMINI_FLASH, 7),
        (DEEPSEEK_CHAT, 5),
        (DEEPSEEK_R, 2),
        (KIMI, 4),
        (QWEN_MAX, 3),
        (QWEN_CODER, 4),
    ]
)
ANY_MODEL = Weighted([(m, 1.0) for m in PRIMARY_MODELS.items] + [(GLM_AIR, 4.0)])
CHEAP_MODELS = [HAIKU, GPT41_MINI, GEMINI_FLASH, DEEPSEEK_CHAT]
RUNAWAY_MODELS = [SONNET, OPUS, GPT4O]

AGENT_NAMES = [
    "research-bot",
    "ops",
    "coder",
    "support-desk",
    "sales-assistant",
    "data-analyst",
    "home",
    "scheduler",
    "writer",
    "devops-oncall",
    "inbox-triage",
    "travel-planner",
]

CHANNELS = ["telegram", "slack", "discord", "whatsapp", "signal"]

SYSTEM_PROMPT = (
    "You are {name}, a personal assistant running inside OpenClaw.\n"
    "## Tooling\nTool availability (filtered by policy): read, write, edit, exec, web_search, web_fetch, "
    "browser, sessions_spawn, memory_search, message.\nTool names are case-sensitive. Call tools exactly as "
    "listed. Prefer small, verifiable steps; read a file before editing it.\n"
    "## Workspace\nYour working directory is: /home/node/.openclaw/workspace\nTreat this directory as the "
    "single global workspace for file operations unless explicitly instructed otherwise.\n"
    "## Memory Recall\nBefore answering anything about prior work, decisions, dates, people, preferences, or "
    "todos: run memory_search on MEMORY.md + memory/*.md; then use the results.\n"
    "## Messaging\nReply in the current session; to reach another channel use the message tool.\n"
    "## Runtime\nRuntime: agent={name} | host=gateway | os=Linux 6.8 (x64) | node=v22.12.0 | "
    "channel={channel} | thinking=low"
)

SUBAGENT_SYSTEM_PROMPT = (
    "You are a sub-agent spawned by {name} for one task. Complete it, then reply with a short report; the "
    "report is announced back to the requester session. Do not start new sub-agents. Workspace: "
    "/home/node/.openclaw/workspace"
)

# The words the silver layer keys trace categories on must appear only in these two prompts.
HEARTBEAT_PROMPT = (
    "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. Do not infer or repeat old tasks "
    "from prior chats. If nothing needs attention, reply HEARTBEAT_OK."
)
COMPACTION_PROMPT = (
    "Pre-compaction memory flush. Store durable memories now (use memory/{day}.md; create memory/ if "
    "needed). If nothing to store, reply with NO_REPLY."
)

TASKS = [
    "Summarize the three most-cited papers on retrieval-augmented generation from this year.",
    "Why is the staging deploy failing? Check the last CI run and fix it if it's the lockfile again.",
    "Draft a reply to the customer who asked about the refund for order #48213.",
    "Find me a flight from Lisbon to Berlin next Thursday morning, under 200 EUR.",
    "Add a unit test for the invoice rounding bug and open a PR.",
    "What changed in our pricing page since last week? Compare with the archived copy.",
    "Clean up the downloads folder: move PDFs to docs/ and delete installers older than 30 days.",
    "Collect this week's support tickets tagged 'billing' and group them by root cause.",
    "Check disk usage on the build box and tell me what's eating space.",
    "Book a 30 minute slot with Priya on Friday afternoon and send her the agenda.",
    "Rewrite the README quickstart so it works on Windows too.",
    "Which of our dependencies have known CVEs? Upgrade the safe ones.",
    "Scrape the conference site for talks about agent observability and list the speakers.",
    "Reconcile the March expense sheet with the bank export and flag mismatches.",
    "Monitor the status page of our payment provider and tell me if anything is degraded.",
    "Translate the onboarding email into Portuguese and German, keep the tone informal.",
]

SUBAGENT_TASKS = [
    ("research", "Search the web for recent benchmarks of {topic} and return a table with sources."),
    ("code-review", "Review the diff on branch feature/{topic} and list risky changes."),
    ("summarize", "Read the files under notes/{topic}/ and write a one-page summary."),
    ("scrape", "Fetch the pages listed in links/{topic}.txt and extract titles and dates."),
]
TOPICS = ["vector-dbs", "billing-v2", "rag-eval", "onboarding", "pricing", "ci-speedup", "q3-roadmap"]

ANSWERS = [
    "Done. I pushed the fix and the pipeline is green again.",
    "Here is the summary you asked for. The main takeaway is that the cost is dominated by cache reads.",
    "I couldn't find anything alarming; details are in the notes file.",
    "Sent. Priya accepted the invite for Friday 15:30.",
    "I found 4 options; the cheapest direct flight is 143 EUR at 07:10.",
    "The build box had 38 GB of stale docker images; I pruned them and freed 41 GB.",
    "Draft is ready in drafts/refund-48213.md, tell me if I should send it.",
]

PLANNING_TEXTS = [
    "Let me check that first.",
    "I'll look at the relevant files.",
    "Running the command now.",
    "Searching for recent sources.",
    "",
]
