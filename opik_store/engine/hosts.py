"""Every host of a cluster, one connection each: for work that must happen on every node.

Some work cannot travel through a distributed query: ``ALTER`` on a node's
own ``system`` log tables, or anything on a server without
``clusterAllReplicas`` (before 20.x). For those, the caller connects to each
host the cluster lists.

Rules:

* The host list is the server's own ``system.clusters`` (every shard, every
  replica), read on the node the store is connected to, in shard/replica
  order.
* Each host is reached with the store's own connection settings (user,
  password, TLS); only host and port change. So the store's user must exist
  on every node with the same password -- as ON CLUSTER DDL also needs.
* :func:`on_every_host` runs the work on every host and reports each host's
  outcome; one unreachable host does not stop the others, and its error
  (password scrubbed) is reported by name.
* Where the names ``system.clusters`` gives cannot be reached from where the
  store runs (a laptop with ``kubectl port-forward``, a runner outside a
  Docker network), ``OPIK_STORE_HOST_MAP`` maps them:
  ``name:port=host:port`` pairs separated by commas. It is read and checked
  before the first host is contacted (a malformed entry is a ConfigError and
  nothing runs), and so is an entry naming a host the cluster does not list
  (a typo would otherwise do nothing); a listed host the map does not name
  is reached as listed. Reports name
  the host as the cluster lists it; a connection error shows the address used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from opik_store.engine.adapter import Adapter
from opik_store.engine.connect import open_adapter
from opik_store.engine.urls import ConnectionSpec
from opik_store.errors import ConfigError, OpikStoreError

ENV_HOST_MAP = "OPIK_STORE_HOST_MAP"

T = TypeVar("T")


@dataclass(frozen=True)
class ClusterHost:
    """One replica of one shard, as ``system.clusters`` lists it."""

    shard: int
    replica: int
    host: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port} (shard {self.shard}, replica {self.replica})"


@dataclass(frozen=True)
class HostOutcome(Generic[T]):
    """What the work returned on one host, or why it could not run there."""

    host: ClusterHost
    result: T | None = None
    error: str = ""


def cluster_hosts(adapter: Adapter, cluster: str) -> list[ClusterHost]:
    """Every host of ``cluster`` from ``system.clusters`` (empty when the server does not define it)."""
    rows = adapter.query(
        "SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = {c:String} "
        "ORDER BY shard_num, replica_num",
        {"c": cluster},
    ).rows
    return [ClusterHost(int(s), int(r), str(h), int(p)) for s, r, h, p in rows]


_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def _address(text: str, entry: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host without brackets, port); ConfigError naming the entry otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not _HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{ENV_HOST_MAP}: {text.strip()!r} in {entry.strip()!r} is not host:port")
    return host.strip("[]"), int(port)


def host_map(environ: Mapping[str, str] | None = None) -> dict[tuple[str, int], tuple[str, int]]:
    """``OPIK_STORE_HOST_MAP`` as {(cluster name, port): (address, port)}; ConfigError naming a bad entry."""
    text = (os.environ if environ is None else environ).get(ENV_HOST_MAP, "")
    mapping: dict[tuple[str, int], tuple[str, int]] = {}
    for entry in filter(str.strip, text.split(",")):
        source, sep, target = entry.partition("=")
        if not sep:
            raise ConfigError(f"{ENV_HOST_MAP}: {entry.strip()!r} is not name:port=host:port")
        key = _address(source, entry)
        if key in mapping:
            raise ConfigError(f"{ENV_HOST_MAP}: {source.strip()!r} is mapped twice")
        mapping[key] = _address(target, entry)
    return mapping


def fans_out(spec: ConnectionSpec, cluster: str | None) -> bool:
    """Whether work for ``cluster`` runs on each of its hosts, one connection each.

    Only a cluster reached over the network does: with no cluster the work is the connected node's, and the
    embedded engine is one node whatever ``--cluster`` says (it cannot connect to another).
    """
    return bool(cluster) and spec.kind == "native"


def host_spec(
    spec: ConnectionSpec, host: ClusterHost, mapping: Mapping[tuple[str, int], tuple[str, int]] | None = None
) -> ConnectionSpec:
    """``spec`` (a native connection) pointed at ``host`` (or where ``mapping`` sends it): same user, password, TLS."""
    if spec.kind != "native":
        raise OpikStoreError(f"cannot reach cluster host {host.label} from {spec.display}: needs a server URL")
    address, port = (mapping or {}).get((host.host, host.port), (host.host, host.port))
    return replace(spec, host=address, port=port)


def on_every_host(spec: ConnectionSpec, hosts: list[ClusterHost], work: Callable[[Adapter], T]) -> list[HostOutcome[T]]:
    """Run ``work`` on a fresh connection to each host in turn; every host gets its outcome."""
    mapping = host_map()
    listed = {(h.host, h.port) for h in hosts}
    unknown = [f"{host}:{port}" for host, port in mapping if (host, port) not in listed]
    if unknown:
        raise ConfigError(
            f"{ENV_HOST_MAP} maps {', '.join(unknown)}, which the cluster does not list "
            f"(it lists {', '.join(h.label for h in hosts) or 'no host'}); nothing was run"
        )
    outcomes: list[HostOutcome[T]] = []
    for host in hosts:
        target = host_spec(spec, host, mapping)
        try:
            adapter = open_adapter(target)
        except OpikStoreError as exc:
            outcomes.append(HostOutcome(host, error=spec.scrub(str(exc))))
            continue
        try:
            outcomes.append(HostOutcome(host, result=work(adapter)))
        except OpikStoreError as exc:
            outcomes.append(HostOutcome(host, error=spec.scrub(str(exc))))
        finally:
            adapter.close()
    return outcomes
