"""One graph tick: the traces silver published since the last tick, replaced in their tenants' snapshots.

Pipeline logic, not kernel: it reads silver's hand-off queue (`silver_pending.py`), which `core` must not
import; the graph writer itself (`core/graph/embedded.py`) takes the traces as a table.
"""

from __future__ import annotations

from clawtrace_pipelines.core.graph.embedded import EmbeddedGraph
from clawtrace_pipelines.core.graph.embedded_store import GraphUpdateReport
from clawtrace_pipelines.core.lake.io_stats import measure
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib.silver_pending import GRAPH_PENDING_DIR, PendingTraces


def run_graph_update(settings: Settings) -> GraphUpdateReport:
    """Read the graph queue, update the queued tenants' snapshots, then acknowledge the queue.

    The queue's files are deleted only after the switch, so a crash leaves them for the next tick; a rebuild
    (first run on this host) covers them as well.

    Returns:
        The update's report ("none" when nothing was queued and a snapshot exists).
    """
    with measure() as io:
        queue = PendingTraces(LakeStorage(settings), GRAPH_PENDING_DIR)
        batch = queue.read()
        report = EmbeddedGraph(settings).update(batch.traces)
        # Every entry was written after the silver commits it names (silver_publish.py, the last step), so
        # the rows just read are at least as new as every entry read: acknowledging all of them is safe.
        queue.ack(batch)
    report.io = io.metadata()
    return report
