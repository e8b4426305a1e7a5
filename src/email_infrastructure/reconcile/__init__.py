"""Plan and apply across components, in dependency order."""
