"""Observability without the web framework: JSON log lines, the request id, metric families.

``service/api/observe.py`` (the request middleware) and ``service/api/metrics.py`` (``/metrics``)
are the web side.
"""
