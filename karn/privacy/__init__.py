"""Privacy: erasure, access requests, retention, the audit log, notices, backups."""

# Importing the package registers the audit log's append-only guard.
from karn.privacy import guard  # noqa: F401
