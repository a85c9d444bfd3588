"""Collaboration reviews: SPEC section 1's three questions, answered from what the node knows."""
