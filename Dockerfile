# Production image: web, worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ODCM_VAR_DIR=/var/lib/odcm
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libldap2-dev libsasl2-dev curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt requirements-ldap.txt ./
RUN pip install --no-cache-dir -r requirements.txt -r requirements-ldap.txt
COPY . .
RUN useradd --system --home /var/lib/odcm odcm && mkdir -p /var/lib/odcm && chown odcm /var/lib/odcm \
 && ODCM_SECRET_KEY="build-only-$(python -m odcm.keygen --secret-key)" ODCM_ALLOWED_HOSTS=build \
    ODCM_ENCRYPTION_KEYS="$(python -m odcm.keygen --encryption-key)" \
    python manage.py collectstatic --noinput
USER odcm
EXPOSE 8000
CMD ["gunicorn", "odcm.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
