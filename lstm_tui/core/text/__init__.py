"""Text: words, vocabularies and corpora. Never imports torch."""
