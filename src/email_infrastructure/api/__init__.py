"""The REST API (FastAPI under /api/v1): a thin face over the services; see api/app.py."""
