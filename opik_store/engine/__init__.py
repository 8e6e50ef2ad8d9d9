"""The connection to ClickHouse: URLs, adapters, server checks, retries, quoting.

Owns everything that talks to a server or the embedded engine and nothing that
knows about Opik's tables. ``adapter`` defines the one interface (``Adapter``)
every higher layer uses; ``embedded`` (chdb) and ``native`` (clickhouse-driver)
implement it; ``urls`` parses and masks connection URLs; ``server`` gates on
the server's version and setting names; ``retry`` classifies transient errors;
``quoting`` is the only place identifiers and literals become SQL text;
``binding`` binds ``{name:Type}`` parameters client-side for servers too old
to bind them (with the driver's escaping); ``hosts`` runs work on every host
of a cluster, one connection each.

May import: ``opik_store.errors``. Nothing above it.
"""
