"""The soak: many shoppers through gunicorn on PostgreSQL for a bounded time, then an audit.

`make soak` (scripts/soak.sh) starts a throwaway PostgreSQL and Redis and runs
`python -m soak`; see soak/run.py.
"""
