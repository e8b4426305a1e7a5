"""Talking to mailboxes as a client: SMTP/IMAP login probes, building, signing and submitting a test
message, and the receiving side's SPF/DKIM/DMARC verdicts on a message."""
