"""PLACEHOLDER: routes of this area are being written."""

ROUTES: list[object] = []
