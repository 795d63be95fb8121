"""What the query-optimizer reaches outside itself: its tables and their repository."""
