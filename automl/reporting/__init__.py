"""What the UI and the CLI read about a study: the leaderboard and the live progress, from the
database alone. Imports ``automl.search`` and below."""
