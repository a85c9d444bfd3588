"""The trex-federation/1 protocol as a library (SPEC section 7).

This package never imports ``service``: a node implements the protocol's storage interfaces.
"""
