"""Expert roster, computed availability, appointments and calendar feeds."""
