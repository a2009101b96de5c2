"""The WSGI entry point gunicorn serves: ``gunicorn services.wsgi:app``."""
from services.app import create_app

app = create_app()
