"""Thin Dagster resources over the kernel."""

import dagster as dg

from clawtrace_pipelines.core.settings import Settings


class LakehouseResource(dg.ConfigurableResource):
    """The lake the assets read and write. Unset fields come from `CLAWTRACE_*` at run time."""

    lake: str | None = None
    table_format: str | None = None

    def settings(self) -> Settings:
        overrides = {k: v for k, v in (("lake", self.lake), ("table_format", self.table_format)) if v}
        return Settings(**overrides)
