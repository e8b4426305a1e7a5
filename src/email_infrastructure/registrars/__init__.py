"""Registrars: buying domains, their nameservers at the registry, and RDAP registration data (issue 26)."""
