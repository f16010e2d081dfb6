"""The simulated tenants and agents: ids, names, model habits and chat targets, all from the seed.

Each tenant and agent has its own RNG derived from the seed and its position, so a run with more agents keeps
the ids of a smaller one, and a `--late` run finds the same agents as the normal run.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from clawtrace_pipelines.simulator.catalog import (
    AGENT_NAMES,
    CHANNELS,
    CHEAP_MODELS,
    PRIMARY_MODELS,
    SYSTEM_PROMPT,
    ModelSpec,
)
from clawtrace_pipelines.simulator.ids import uuid4_str


@dataclass(frozen=True)
class Agent:
    """One agent of one tenant, with the habits its traffic follows."""

    tenant_id: str
    agent_id: str
    api_key_id: str
    name: str
    position: tuple[int, int]
    primary: ModelSpec
    secondary: ModelSpec
    cheap: ModelSpec
    sys_tokens: int
    system_prompt: str
    targets: tuple[str, ...]

    @property
    def main_key(self) -> str:
        return f"agent:{self.name}:main"


def seeded(seed: int, *parts: object) -> Random:
    """An RNG for one purpose of one run: `Random` seeded with a string (hashed with SHA-512, so stable)."""
    return Random(":".join(["clawtrace-sim", str(seed), *map(str, parts)]))


def build_agents(seed: int, tenants: int, agents_per_tenant: int) -> list[Agent]:
    """Every agent of the run, tenant by tenant."""
    agents = []
    for i in range(tenants):
        trng = seeded(seed, "tenant", i)
        tenant_id = uuid4_str(trng)
        names = trng.sample(AGENT_NAMES, len(AGENT_NAMES))
        for j in range(agents_per_tenant):
            arng = seeded(seed, "tenant", i, "agent", j)
            agent_id, api_key_id = uuid4_str(arng), uuid4_str(arng)
            name = names[j % len(names)] + (f"-{j // len(names) + 1}" if j >= len(names) else "")
            targets = tuple(
                f"{arng.choice(CHANNELS)}:{arng.randint(10_000, 9_999_999)}" for _ in range(arng.randint(1, 3))
            )
            agents.append(
                Agent(
                    tenant_id=tenant_id,
                    agent_id=agent_id,
                    api_key_id=api_key_id,
                    name=name,
                    position=(i, j),
                    primary=PRIMARY_MODELS.pick(arng),
                    secondary=PRIMARY_MODELS.pick(arng),
                    cheap=arng.choice(CHEAP_MODELS),
                    sys_tokens=arng.randint(6_000, 14_000),
                    system_prompt=SYSTEM_PROMPT.format(name=name, channel=targets[0].split(":")[0]),
                    targets=targets,
                )
            )
    return agents
