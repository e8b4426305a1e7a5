# email-infra: one image for every process of a deployment (api, worker, scheduler, one-off commands).
# Build: docker build -t email-infra .   Run: see docker-compose.yml and docs/deploy.md.

# --- build: install the package and its pinned dependencies into a virtualenv -----------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/email-infra
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY src ./src
# constraints.txt pins every dependency: the image runs what the test suite ran
RUN /opt/email-infra/bin/pip install --no-compile -c constraints.txt . \
    && /opt/email-infra/bin/python -m compileall -q /opt/email-infra/lib

# --- runtime: the virtualenv only, no compiler, no pip cache, not root ---------------------------
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="email-infra" \
      org.opencontainers.image.description="Control plane for cold-email infrastructure" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 email-infra \
    && useradd --system --uid 10001 --gid email-infra --home-dir /data --create-home --shell /usr/sbin/nologin email-infra
COPY --from=build /opt/email-infra /opt/email-infra
ENV PATH=/opt/email-infra/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    EMAIL_INFRA_DATA_DIR=/data \
    EMAIL_INFRA_ENV=production
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Redis and the database answer; the api service overrides it with a check of its port
HEALTHCHECK --interval=30s --timeout=15s --start-period=20s --retries=3 CMD ["email-infra", "worker", "--check"]
ENTRYPOINT ["email-infra"]
CMD ["worker"]
