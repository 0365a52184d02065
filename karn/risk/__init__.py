"""At risk: which current customers look like those who left, and why."""
