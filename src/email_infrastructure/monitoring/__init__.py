"""The monitoring component: audits, blacklists, TLS, drift, history and alerts."""
