"""Verdicts: card compare, regress and the leaderboard compute them from Scores tables; pages render them."""
