"""The applications above the trainer: config, experiment, predict, explain, plot, runs, TensorBoard."""
