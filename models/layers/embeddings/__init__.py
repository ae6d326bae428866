"""Embedding tables: every field of the batch, a few id fields read straight from ``cat``, and which fields describe the user or the item."""
