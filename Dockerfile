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

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps .

# Static files are baked into the image. Settings refuse to load without a strong
# SECRET_KEY (50+ characters), so collectstatic gets a throwaway one that signs nothing;
# the URLs keep it off the SQLite and filesystem-broker defaults, which would create var/
# in the image. Nothing is connected to.
RUN SECRET_KEY=collectstatic-only-throwaway-key-that-signs-nothing-at-all \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

# Run as an unprivileged user that cannot write to the code.
RUN useradd --create-home --uid 10001 --user-group app
USER app

EXPOSE 8000

# gunicorn binds 0.0.0.0:$PORT and runs $WEB_CONCURRENCY workers. Same as the Procfile's web.
CMD ["gunicorn", "config.wsgi", "-c", "config/gunicorn.conf.py", "--access-logfile", "-", "--timeout", "30"]
