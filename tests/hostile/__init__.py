"""Hostile input at every entry point of the running gateway, on the real broker."""
