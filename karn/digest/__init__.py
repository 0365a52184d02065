"""The team digest: a period's reasons, quotes, calls, win-backs and actions."""
