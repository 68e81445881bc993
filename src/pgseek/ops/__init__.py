"""Running the index after day one: ``doctor`` (what is wrong, what to do) and ``maintain`` (the online fixes)."""
