"""The node's append-only, tamper-evident audit log: who did or read what, hash-chained."""
