"""Generic blocks: MLP, residual unit, the stacking layer, Dice, output heads, item frequencies for the in-batch softmax correction."""
