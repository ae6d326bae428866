"""Learning in time order: prequential windows over a time-stamped ctr log, every model's online
modes (static, incremental, retrain) and DRN's Dueling Bandit Gradient Descent."""
