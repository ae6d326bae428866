"""Behavior sequences: history vectors and masks, (attention-steered) GRUs, DIEN's next-behavior loss."""
