"""The application: composes the areas into the web service, the worker and the command line
(server, wiring, CLI, demo seeding, the model registry for Alembic, site-wide pages)."""
