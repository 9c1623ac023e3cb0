"""SQL: plain functions that take a connection and return rows (no Flask here)."""
