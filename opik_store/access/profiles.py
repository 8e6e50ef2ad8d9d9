"""What backend code attaches to its queries: the right profile for each kind of work.

Example::

    from opik_store import QueryProfiles

    profiles = QueryProfiles.load()          # defaults, or OPIK_STORE_PROFILES
    client.query(sql, settings=profiles.settings("read"))        # {'profile': 'opik_read'}
    sql + profiles.clause("analytics")       # " SETTINGS profile = 'opik_analyst'"
    client.insert(..., settings=profiles.values("ingest"))       # async_insert=1, wait_for_async_insert=1, ...

Purposes (``ingest``, ``read``, ``analytics`` by default) map to profiles in
the ``[purposes]`` table of the access configuration. ``SETTINGS profile = ...``
on a query applies the profile's values and its MIN/MAX/CONST constraints to
that query; a connecting user whose role carries the profile gets it anyway.
``values()`` returns the profile's own values (inherited ones included) for
drivers that cannot send ``profile``.
"""

from __future__ import annotations

from pathlib import Path

from opik_store.access.model import AccessModel, load_access
from opik_store.engine.quoting import quote_string
from opik_store.errors import ConfigError


class QueryProfiles:
    def __init__(self, model: AccessModel) -> None:
        self.model = model

    @classmethod
    def load(cls, path: str | Path | None = None) -> QueryProfiles:
        return cls(load_access(path))

    def profile(self, purpose: str) -> str:
        """The profile name for ``purpose``; ConfigError naming the known purposes otherwise."""
        try:
            return self.model.purposes[purpose]
        except KeyError:
            known = ", ".join(sorted(self.model.purposes))
            raise ConfigError(f"unknown query purpose {purpose!r} (known: {known})") from None

    def settings(self, purpose: str) -> dict[str, str]:
        """Per-query settings that apply the purpose's profile: ``{'profile': name}``."""
        return {"profile": self.profile(purpose)}

    def clause(self, purpose: str) -> str:
        """A ``SETTINGS profile = '...'`` clause to append to a SELECT."""
        return f" SETTINGS profile = {quote_string(self.profile(purpose))}"

    def values(self, purpose: str) -> dict[str, str]:
        """The profile's setting values, parents first, for clients that cannot send ``profile``."""
        out: dict[str, str] = {}

        def collect(name: str, seen: tuple[str, ...]) -> None:
            if name in seen:
                return
            profile = self.model.profiles[name]
            for parent in profile.inherit:
                collect(parent, (*seen, name))
            out.update({k: v.value for k, v in profile.settings.items() if v.value is not None})

        collect(self.profile(purpose), ())
        return out
