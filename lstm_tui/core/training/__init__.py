"""Training: settings, the loop, batches, optimisers, metrics, and many processes."""
