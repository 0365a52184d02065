"""Learning from this platform's own text: training, tag corrections, re-tagging."""
