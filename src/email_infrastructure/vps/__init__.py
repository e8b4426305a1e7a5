"""The VPS component: servers with Mailcow installed, and their reverse DNS."""
