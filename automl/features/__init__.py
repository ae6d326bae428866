"""From a stored dataset to tensors: vocabularies and numeric statistics, behavior histories,
field-pair ranking, splits (ctr/rating and leave-one-out top-K), negatives and the encoded-data
cache. Imports ``automl.data`` below it."""
