FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY pyproject.toml README.md ./
COPY upscaler_site upscaler_site
COPY jobs jobs
COPY sandbox sandbox
RUN pip install --no-cache-dir .
COPY . .
# Collected with production settings, so whitenoise gets its hashed manifest.
RUN DEBUG=false SECRET_KEY=build-only FIELD_ENCRYPTION_KEYS=build-only UPSCALER_DATA_DIR=/tmp/build \
    python manage.py collectstatic --noinput && rm -rf /tmp/build
EXPOSE 8000
CMD ["gunicorn", "upscaler_site.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
