# Skillproof API image: slim, non-root, keys and database on volumes, no key baked in.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SKILLPROOF_KEYS_DIR=/data/keys \
    SKILLPROOF_DATABASE_URL=sqlite:////data/db/skillproof.db

WORKDIR /srv/skillproof
# libcairo2 and a font: CairoSVG renders the PNG badge from the achievement SVG (app/credentials/badge_png.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcairo2 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
# Dependencies first, exactly as locked (versions and hashes), so this layer is cached across code changes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# Bind mounts for keys and database must be owned by uid 10001 (or run with --user matching their owner).
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && useradd --system --uid 10001 --user-group --home-dir /srv/skillproof skillproof \
    && mkdir -p /data/keys /data/db \
    && chown -R skillproof:skillproof /data \
    && chmod 700 /data/keys /data/db

USER skillproof
VOLUME ["/data/keys", "/data/db"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"

# Set SKILLPROOF_PUBLIC_URL to the public https URL: the issuer DID is derived from its host.
CMD ["skillproof", "serve", "--host", "0.0.0.0", "--port", "8000"]
