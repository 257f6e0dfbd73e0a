# gunicorn reads this file from the working directory (the project root, /app in the image).
# The access log masks secret-looking query parameters and password-reset keys.
logger_class = "odcm.gunicorn_logging.RedactingLogger"
