# Production image: web, worker and beat all run from it (see docker-compose.yml).
# Two stages: "build" compiles what needs compiling (python-ldap) into a virtualenv, installing
# only the locked, hash-checked requirements; the final image copies that virtualenv, has no
# compiler or headers, and runs as the unprivileged user "odcm".

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libldap2-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements-ldap.txt /tmp/requirements/
RUN python -m venv /opt/odcm \
 && /opt/odcm/bin/pip install --require-hashes --no-deps \
      -r /tmp/requirements/requirements.txt -r /tmp/requirements/requirements-ldap.txt

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/odcm/bin:$PATH ODCM_VAR_DIR=/var/lib/odcm
# Only the shared libraries python-ldap links against; no compiler, no curl.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/odcm --create-home odcm
COPY --from=build /opt/odcm /opt/odcm
WORKDIR /app
# The code belongs to root and is read-only to the process; only ODCM_VAR_DIR is writable.
COPY . .
USER odcm
RUN ODCM_SECRET_KEY="build-only-$(python -m odcm.keygen --secret-key)" ODCM_ALLOWED_HOSTS=build \
    ODCM_ENCRYPTION_KEYS="$(python -m odcm.keygen --encryption-key)" \
    python manage.py collectstatic --noinput
EXPOSE 8000
# The same probe as docker-compose.yml: 0 only when /readyz answers 200 (see docs/operations.md).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-m", "odcm.probe", "/readyz"]
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
