"""What the analysis service reaches outside itself: tables, repository, AI providers."""
