"""Resources: where the data root is, and the shared polite HTTP fetcher."""

import os
from pathlib import Path

import dagster as dg

from pipelines.fetch.http import PoliteFetcher
from pipelines.settings import DataRoot
from pipelines.sources.registry import all_sources


class CommonsHome(dg.ConfigurableResource):
    """The data root. Empty means ``$COMMONS_HOME`` or ``data/`` in the project."""

    home: str = ""

    def root(self) -> DataRoot:
        return (DataRoot(Path(self.home).resolve()) if self.home else DataRoot.from_env()).ensure()


class HttpFetcher(dg.ConfigurableResource):
    """Polite HTTP for live sources: per-host spacing from each source's declared limits, retries, backoff."""

    user_agent: str = "ResearchCommons/0.1 (+https://github.com/research-commons; mailto:{contact})"
    contact: str = ""

    def fetcher(self) -> PoliteFetcher:
        contact = self.contact or os.environ.get("COMMONS_CONTACT_EMAIL", "unset")
        spacing = {
            host: source.live.min_interval_s
            for source in all_sources().values()
            if source.live
            for host in source.live.hosts
        }
        return PoliteFetcher(user_agent=self.user_agent.format(contact=contact), min_interval_s=spacing)
