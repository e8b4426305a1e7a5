"""The DNS component: the records a sending domain needs, providers, plan and apply."""
