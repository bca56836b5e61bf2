"""REST API v1: token-authenticated JSON for scripts. See docs/api.md and /api/v1/docs."""
