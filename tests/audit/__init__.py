"""Tests of ``service/audit/``."""
