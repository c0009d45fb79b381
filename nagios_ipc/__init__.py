"""nagios_ipc: monitoring plugins for messages piling up where they should flow."""

__version__ = "0.1.0"
