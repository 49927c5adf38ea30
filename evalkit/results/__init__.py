"""Results: the folder layout, reading every mteb result format, the Scores table, main scores and averages."""
