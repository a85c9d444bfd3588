"""The node's web pages: server-rendered (Jinja2), working without JavaScript, for members,
analysts, publishers and operators.

Pages are an HTTP layer beside ``service/api``: they call the same domain services with the
same ``Principal``, so a page shows exactly what its viewer could fetch from ``/v1``. Forms
post with the browser session and a CSRF token (``security.py``).
"""
