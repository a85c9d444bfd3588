"""Who the caller is and what it may see or do: the one access policy (SPEC section 5)."""
