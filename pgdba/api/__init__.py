"""The REST API and dashboard (FastAPI)."""
