"""Custom actions of 小安: thin adapters from rasa-sdk to the `xiaoan` package."""
