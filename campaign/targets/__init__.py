"""Feature package: targets."""
