"""The Optuna study: settings, model availability, the objective, workers (budget, liveness,
sampling), the stored ensemble, and the actions a person takes (launch, stop). Imports
``automl.training`` and below."""
