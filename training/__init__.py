"""Training with the paper's recipe and the paper's analyses (see the training and analysis issues)."""
