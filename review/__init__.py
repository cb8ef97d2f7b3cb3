"""Review in pull requests: a Markdown summary of a kafka-tls preview (summary.py)."""
