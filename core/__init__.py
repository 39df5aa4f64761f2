"""What every app may use and that belongs to none: the domain error base, shared
errors and the API's rate limits. It imports no app."""
