"""Feedback from other channels than the survey: support tickets, complaints,
reviews, social media, NPS comments. Stored untagged, tagged by the worker,
counted in the analysis as a source of their own."""
