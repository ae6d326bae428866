"""Shared building blocks; one small module per operator, each documenting its shapes."""
