"""Views by area: pages (upload, jobs, gallery, files), spend, sharing, team, and the API."""
