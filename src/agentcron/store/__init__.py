"""Persistence: one `Store` interface (`base.py`), SQLite and PostgreSQL implementations."""
