"""The ground layer: settings, database, privacy, audit, i18n, errors, accounts and request security,
mainland formats and the shared vocabulary. It imports no area and nothing of the application."""
