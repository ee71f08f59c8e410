"""A local SMTP server (aiosmtpd) for the mail benchmark that only counts what it is given, so the
server stays cheap and the clients' speed is what is measured.

usage: python count_smtpd.py PORT STATS_FILE

STATS_FILE holds `messages recipients bytes connections` (totals since start; connections that
delivered at least one message, told apart by the client's port), rewritten atomically whenever
they changed, at most every 20 ms.
"""
import os
import sys
import threading
import time

from aiosmtpd.controller import Controller

port, stats = int(sys.argv[1]), sys.argv[2]


class Counter:
    def __init__(self):
        self.messages = self.recipients = self.size = 0
        self.peers = set()

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        self.size += len(envelope.original_content or envelope.content or b"")
        self.peers.add(session.peer)
        return "250 OK"


def write_stats(counter):
    last = None
    while True:
        now = (counter.messages, counter.recipients, counter.size, len(counter.peers))
        if now != last:
            tmp = stats + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d %d %d %d\n" % now)
            os.replace(tmp, stats)
            last = now
        time.sleep(0.02)


counter = Counter()
# The default data_size_limit (32 MiB) and timeouts are fine for a few thousand small messages.
controller = Controller(counter, hostname="127.0.0.1", port=port)
controller.start()
threading.Thread(target=write_stats, args=(counter,), daemon=True).start()
threading.Event().wait()
