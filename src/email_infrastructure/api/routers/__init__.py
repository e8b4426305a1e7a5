"""One router per resource; each route calls the services, never repositories or providers."""
