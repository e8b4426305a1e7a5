"""email-infrastructure: a control plane for cold (outbound) email infrastructure."""

__version__ = "0.1.0"
