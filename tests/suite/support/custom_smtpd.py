"""A real SMTP server on 127.0.0.1 for the outbox tests: stores what arrives in a Maildir, and can
refuse one recipient for good (550) or take a while over each message.

usage: python3 custom_smtpd.py PORT MAILDIR [--reject ADDRESS] [--delay SECONDS]
"""
import argparse
import asyncio
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("maildir")
ap.add_argument("--reject", default=None)
ap.add_argument("--delay", type=float, default=0.0)
args = ap.parse_args()


class Handler(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if args.reject and address.lower() == args.reject.lower():
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if args.delay:
            await asyncio.sleep(args.delay)
        return await super().handle_DATA(server, session, envelope)


controller = Controller(Handler(args.maildir), hostname="127.0.0.1", port=args.port)
controller.start()
threading.Event().wait()
