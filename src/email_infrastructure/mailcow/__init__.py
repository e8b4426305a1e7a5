"""The mail backend component (Mailcow through its REST API)."""
