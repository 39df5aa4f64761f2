# The one image behind every app service in docker-compose.yml: web, worker, beat, flower
# and the one-shot migrate. Each service sets its own `command`, copied from the Procfile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    PORT=8000 \
    ENVIRONMENT=production

WORKDIR /app

# Dependencies first, from the lock alone (runtime only: no dev or embedded extras), so a
# code change reuses this layer. `make lock` refreshes it from pyproject.toml.
COPY requirements/production.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps .

# Static files are baked into the image. Settings refuse to load without a strong
# SECRET_KEY (50+ characters) and without DATABASE_URL and REDIS_URL, so collectstatic
# gets throwaway values. Nothing is connected to.
RUN SECRET_KEY=collectstatic-only-throwaway-key-that-signs-nothing-at-all \
    DATABASE_URL=postgres://collectstatic@localhost:5432/collectstatic \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

# Run as an unprivileged user that cannot write to the code.
RUN useradd --create-home --uid 10001 --user-group app
USER app

EXPOSE 8000

# gunicorn binds 0.0.0.0:$PORT and runs $WEB_CONCURRENCY workers. Same as the Procfile's web.
CMD ["gunicorn", "config.wsgi", "-c", "config/gunicorn.conf.py", "--access-logfile", "-", "--timeout", "30"]
