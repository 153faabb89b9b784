"""One-off commands of the CLI: ask, simulate-dms, rebuild, asyncapi, and the local broker."""
