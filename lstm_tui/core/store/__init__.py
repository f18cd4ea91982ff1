"""What lives on disk: checkpoints, their history, settings, and the user's folders. No torch."""
