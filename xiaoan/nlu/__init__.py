"""Custom Rasa NLU components of 小安 (registered in config.yml)."""
