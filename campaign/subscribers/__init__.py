"""Feature package: subscribers."""
