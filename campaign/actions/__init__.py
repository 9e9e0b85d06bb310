"""Feature package: actions."""
