"""The spine every component builds on: settings, inventory, errors, events, logging, vault."""
