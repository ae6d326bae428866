"""CrossBoard's engine: ingestion, features, training, the Optuna study and its workers."""
