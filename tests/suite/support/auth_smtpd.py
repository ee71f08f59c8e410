"""A real SMTP server on 127.0.0.1 that requires AUTH (PLAIN or LOGIN) with one user, and stores
what arrives in a Maildir. Used by the tests of disbmon's SMTP credentials.

usage: python3 auth_smtpd.py PORT MAILDIR USER PASSWORD
"""
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

port, maildir, user, password = sys.argv[1:5]


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password.encode()
    )
    # handled=False: let the server answer 535 itself on failure.
    return AuthResult(success=ok, handled=False)


controller = Controller(
    Mailbox(maildir),
    hostname="127.0.0.1",
    port=int(port),
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=False,
)
controller.start()
threading.Event().wait()
