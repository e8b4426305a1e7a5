"""The `email-infra` command line (Typer + Rich): one module per command group."""
