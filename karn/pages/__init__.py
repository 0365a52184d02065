"""Pages that show several features' data: the overview and the customer pages."""
