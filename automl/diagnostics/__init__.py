"""Which fields and field pairs a trained model uses: model-agnostic measures (ArchDetect pair
interactions, permutation importance), the models' own views (pair terms, attention), and the
study-level summaries (consensus pairs, option comparisons, parameter importances)."""
