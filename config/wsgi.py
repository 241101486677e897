import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# After Django is set up: wallet calls of every protocol take their own short way in.
from wallets.adapters.front import WalletApiFirst  # noqa: E402

application = WalletApiFirst(django_application)
