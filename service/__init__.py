"""The trex node: advisories, access policy, screening and the HTTP API."""
