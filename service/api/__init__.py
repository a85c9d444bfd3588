"""The HTTP layer: the only package (with ``service/app.py``) that imports FastAPI."""
