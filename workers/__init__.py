"""RQ job functions and the worker entry point. Imports campaign, never the reverse."""
