"""A node's private key stays in its key ring file: private to its owner, never in any output."""

from __future__ import annotations

import json
import stat

from federation.keys import KEY_RING_FILE
from tests.federation.cluster import Cluster


def test_private_keys_never_reach_logs_or_command_output(nodes: Cluster) -> None:
    ca = nodes.add("ca")
    uk = nodes.add("uk")
    nodes.peer("ca", "uk")
    nodes.group("five-eyes", ["ca", "uk"])
    ca.publish()
    outputs = [
        uk.sync().stdout,
        ca.run("keys", "rotate").stdout,
        ca.run("keys", "show").stdout,
        ca.run("peers", "list").stdout,
        uk.sync("--peer", "ca").stdout,
        ca.run("bundle", "export", "--peer", "uk").stdout,
    ]
    ca.publish()
    outputs.append(uk.sync().stdout)

    ring_file = ca.data_dir / KEY_RING_FILE
    assert stat.S_IMODE(ring_file.stat().st_mode) == 0o600
    seeds = [entry["private_seed"] for entry in json.loads(ring_file.read_text())["keys"]]
    assert len(seeds) == 2  # the rotated key stays, to verify what it signed
    everything = "\n".join(
        [*outputs, ca.served.output() if ca.served else "", uk.served.output() if uk.served else ""]
    )
    for seed in seeds:
        assert seed not in everything
    # The public half is what operators exchange, and it is shown.
    assert ca.public_key in "\n".join(outputs)
