"""The mail benchmark's peer: Python smtplib sending COUNT alerts like disbmon's (one recipient
each, multipart/alternative text + HTML, Vietnamese subject) over one SMTP connection.

usage: python smtplib_send.py PORT COUNT SIZE

SIZE: the average size in bytes of disbmon's messages as the server received them; each message is
padded to about that size. The messages are built first (the email package is slow: ~1-3 ms a
message), then sent, and both times are printed as JSON -- so the sending alone, what one
connection to this server can carry, is known too.
"""
import json
import smtplib
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid

port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
SENDER = "giamsat@bench.example.gov.vn"


def message(i, pad):
    m = EmailMessage()
    m["From"] = f"Giám sát giải ngân <{SENDER}>"
    m["To"] = f"u{i:04d}@bench.example.gov.vn"
    m["Subject"] = f"[Giải ngân 2026] Đơn vị {i}: đạt 0,0%, chưa đạt mức cần đạt 71,8% (đến 31/10/2026)"
    m["Date"] = formatdate(localtime=True)
    m["Message-ID"] = make_msgid(domain="bench.example.gov.vn")
    text = f"Đơn vị {i}: kế hoạch 100,0 tỷ đồng, đã giải ngân 0,0 tỷ đồng.\n"
    text += ("Chênh lệch so với mốc tiến độ.\n" * (pad // 32 + 1))[:pad]
    m.set_content(text)
    m.add_alternative(f"<html><body><pre>{text}</pre></body></html>", subtype="html")
    return m["To"], m.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


# The size grows linearly with the padding: two samples give the padding for SIZE.
s0, s1 = len(message(1, 0)[1]), len(message(1, 2000)[1])
pad = max(0, round((size - s0) * 2000 / (s1 - s0)))

started = time.perf_counter()
messages = [message(i, pad) for i in range(1, count + 1)]
built = time.perf_counter()
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for to, data in messages:
        smtp.sendmail(SENDER, [to], data)
sent = time.perf_counter()
json.dump({"build_s": built - started, "send_s": sent - built,
           "bytes": sum(len(d) for _, d in messages) // count}, sys.stdout)
