"""Custom Rasa NLU graph components of 小安 (referenced by name from config.yml)."""
