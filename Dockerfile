# Heard's image: one image for web (gunicorn), worker and beat; docker-compose.yml picks the command.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEARD_VAR_DIR=/app/var \
    MEDIA_ROOT=/app/var/media \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app
RUN useradd --create-home --uid 10001 --user-group heard

# Dependencies first, so a code change doesn't reinstall them (the lock pins every version).
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .
# The customers' languages: compile locale/*/LC_MESSAGES/django.po (the .mo files aren't in git).
RUN pybabel -q compile -d locale -D django
# collectstatic imports the settings, which insist on production variables when DEBUG=0;
# these placeholders exist only for this build step and are not in the final environment.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-secret ALLOWED_HOSTS=build.invalid \
    EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend HEARD_VAR_DIR=/tmp/build \
    python manage.py collectstatic --noinput -v0 \
 && mkdir -p /app/var/media \
 && chown -R heard:heard /app/var

USER heard
EXPOSE 8000
CMD ["gunicorn", "feedback.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "30", \
     "--access-logfile", "-", "--forwarded-allow-ips", "*"]
