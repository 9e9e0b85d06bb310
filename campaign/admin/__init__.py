"""Organiser accounts: login with password and TOTP, roles, the dashboard, the audit log."""
