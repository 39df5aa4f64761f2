"""PostgreSQL and Valkey installed from PyPI with the project, for `make run`, `make test`,
`make bench`, `make soak` and the fault tests (see servers.py; CLI in __main__.py)."""
