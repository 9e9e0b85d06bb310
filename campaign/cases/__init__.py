"""Feature package: cases."""
