"""The REST API (version 1), authenticated by API keys."""
