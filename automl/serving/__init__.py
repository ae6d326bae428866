"""Using a study's winner: scoring new rows with a stored model or the ensemble."""
