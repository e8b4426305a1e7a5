"""Monitoring checks, one per file; each is an async function of a target and the audit context."""
