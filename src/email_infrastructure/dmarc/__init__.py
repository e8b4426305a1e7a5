"""DMARC aggregate and failure reports, SMTP TLS reports: containers, streaming parsers, models."""
