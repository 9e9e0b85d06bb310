"""gunicorn settings for the campaign mailer.

    gunicorn -c gunicorn.conf.py 'campaign:create_app()'

Command-line options override these. The reverse proxy in front (nginx, Caddy) terminates TLS
and must strip or blank its own ``Server`` header too; see docs/SECURITY.md.
"""

import gunicorn
import gunicorn.http.wsgi

# No "Server: gunicorn" banner. gunicorn has no setting for this; its response class reads the
# module-level name each time, so blanking it here (before any worker starts) is enough.
gunicorn.SERVER = ""
gunicorn.http.wsgi.SERVER = ""

bind = "127.0.0.1:8000"  # behind the reverse proxy only
workers = 2
worker_class = "sync"
timeout = 60
graceful_timeout = 30
forwarded_allow_ips = "127.0.0.1"  # with TRUSTED_PROXIES=1
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# Access logs carry paths; invitation and reset links hold single-use tokens in the path.
accesslog = None
errorlog = "-"
