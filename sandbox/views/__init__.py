"""One module per fake provider, plus the shared wrapper (common) and the fake CDN (files)."""
