"""The back-office API: `/api/v1/back-office/`, for clients holding an API key."""
