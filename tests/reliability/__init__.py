"""Fault injection on the real broker and real PostgreSQL, against the gateway as a process."""
