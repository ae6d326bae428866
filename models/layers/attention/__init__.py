"""Attention: DIN's activation unit, AFM's pair pooling, AutoInt's field self-attention and a Transformer block."""
