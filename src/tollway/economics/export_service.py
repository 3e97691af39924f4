"""The gateway's handle on the billing export: configured from ``general_settings.billing_export`` when the app is
built (a bad setting stops the start, naming it), started with the governance database in the app's lifespan,
closed before the database is (each gateway worker runs it; the export store's lease lets one export at a time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollway.economics.export_settings import ExportSettings, ExportSettingsError

if TYPE_CHECKING:
    from tollway.economics.export_runner import BillingExport
    from tollway.storage.database import Database

__all__ = ["ExportService", "billing_export_of"]


class ExportService:
    """Runs the configured exporters in the background; does nothing when none is configured."""

    def __init__(self, settings: ExportSettings | None) -> None:
        self.settings = settings
        self.running: BillingExport | None = None

    async def start(self, database: Database) -> None:
        """Start exporting from ``database`` (the gateway's store)."""
        if self.settings is None or self.running is not None:
            return
        from tollway.economics.export_runner import BillingExport

        self.running = BillingExport(self.settings, database)
        self.running.start()

    async def aclose(self) -> None:
        """Stop exporting (a pass in flight gets a few seconds), give the lease up."""
        if self.running is not None:
            running, self.running = self.running, None
            await running.aclose()


def billing_export_of(settings: Mapping[str, Any], environ: Mapping[str, str]) -> ExportService:
    """The ``ExportService`` of a gateway config's settings; ``StartupError`` naming a bad setting."""
    from tollway.proxy.settings import StartupError

    try:
        return ExportService(ExportSettings.from_config(settings, environ))
    except ExportSettingsError as error:
        raise StartupError(str(error)) from None
