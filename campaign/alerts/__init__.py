"""Feature package: alerts."""
