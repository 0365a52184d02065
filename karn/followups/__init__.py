"""Follow-up mails by reason, "we fixed it" campaigns, and their measured effect."""
