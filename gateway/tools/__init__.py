"""One-off commands of the CLI: ask, simulate-dms, rebuild, report, verify-audit, accounts,
asyncapi, and the local broker."""
