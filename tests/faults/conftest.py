"""Fault fixtures: ``nodes``, a cluster of real node processes."""

from tests.federation.cluster import nodes

__all__ = ["nodes"]
