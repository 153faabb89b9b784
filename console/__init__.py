"""The operator console: a web entry point (Starlette, Jinja2, htmx) over the gateway's services."""
