"""Partner-risk advisories: immutable revisions and the current state of each advisory."""
