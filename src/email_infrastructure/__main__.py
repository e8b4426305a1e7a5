"""`python -m email_infrastructure` runs the CLI."""

from email_infrastructure.cli.app import main

main()
