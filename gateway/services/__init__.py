"""The service layer: use cases that take parsed messages and a unit of work."""
