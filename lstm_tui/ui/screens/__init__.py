"""Modal screens: hyperparameters, save, load, open corpus, confirm, help."""
