# One image for the web app and the worker (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /srv/family-hotline
COPY pyproject.toml README.md ./
COPY app ./app
COPY core ./core
COPY hotline ./hotline
COPY booking ./booking
COPY notifications ./notifications
COPY migrations ./migrations
COPY templates ./templates
COPY locales ./locales
COPY static ./static
RUN pip install --no-cache-dir -e . && useradd --system --home /srv/family-hotline fh
USER fh
EXPOSE 8000
CMD ["family-hotline", "serve", "--host", "0.0.0.0", "--port", "8000"]
