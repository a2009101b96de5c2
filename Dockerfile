# One image for every Qorgau process; docker-compose.yml chooses the command
# (gunicorn for web, celery worker, celery beat, the migrate job).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 qorgau \
 && useradd --system --uid 10001 --gid qorgau --home-dir /app --shell /usr/sbin/nologin qorgau

WORKDIR /app

# Dependencies first, pinned by constraints.txt, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN mkdir -p services workflows audit \
 && pip install -c constraints.txt . \
 && pip uninstall -y qorgau

COPY . .
RUN pip install --no-deps -e . \
 && if [ -d services/translations ]; then pybabel compile -d services/translations; fi \
 && python -m compileall -q services workflows audit migrations

USER qorgau
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status != 200)"

CMD ["gunicorn", "services.wsgi:app", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--graceful-timeout", "20", "--access-logfile", "-", "--no-control-socket"]
