"""Outgoing mail: composing standards-correct messages and handing them to a transport."""
