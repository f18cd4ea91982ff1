"""Serving a trained model to a typist: next words, completions, continuations, surprise."""
