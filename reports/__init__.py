"""Statistics and the quarterly report (季度报送): figures aggregated in SQL for a unit and the units
below it over a period, drawn as server-side SVG, written into a report a supervisor signs off.

Sits above hotline (it reads hotline's, booking's and notifications' tables) and below app."""
