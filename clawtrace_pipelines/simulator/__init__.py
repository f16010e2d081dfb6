"""Simulated OpenClaw traffic for the raw zone: realistic agent loops with the quirks of real collectors.

`simulate(settings, SimulationConfig(start=...))` writes raw files, one arrival record and a `Manifest` whose
counts are exact, so the pipeline's output can be reconciled against it.
"""

from clawtrace_pipelines.simulator.config import SimulationConfig
from clawtrace_pipelines.simulator.manifest import Manifest
from clawtrace_pipelines.simulator.run import simulate

__all__ = ["Manifest", "SimulationConfig", "simulate"]
