"""Sending digests: SMTP (smtplib) and a Slack-compatible webhook (requests), each once.

A message recorded as sent in the state store is never sent again (a rerun after a crash
anywhere in the run sends nothing twice). The one window left is a crash between a send and its
record, a few statements wide: the message then goes again on the rerun with the same
Message-ID / Idempotency-Key, so a receiver can drop the repeat. A failed send is recorded as
failed, with its message, and retried on the next run. A digest failure never changes what was
written to the CRM or the run's exit code: it shows in the report's `digest` field.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import requests

from kamrules.digest.build import DigestMessage, DigestReport
from kamrules.digest.config import DigestSettings
from kamrules.inputs.addresses import http_url
from kamrules.inputs.deadline import DEADLINE_TIMEOUTS, AnswerCutOff, WatchedAdapter, cut_off
from kamrules.inputs.secrets import Secret, SecretError, redact
from kamrules.protocol.faults import checkpoint


class Sender:
    """Sends one message on its channel; raises on any failure, with secrets kept out."""

    def __init__(self, settings: DigestSettings, base_dir: Path):
        self.settings = settings
        self.base_dir = base_dir
        self._secrets: list[Secret] = []

    def _secret(self, ref: Any) -> str:
        secret = ref.read(self.base_dir)
        self._secrets.append(secret)
        return secret.reveal()

    def redact(self, text: str) -> str:
        """`text` without the channel's secrets in any form (URL-encoded and base64 too)."""
        return redact(text, self._secrets)

    def send(self, message: DigestMessage) -> None:
        if message.channel == "email":
            self._email(message)
        else:
            self._webhook(message)

    def _email(self, message: DigestMessage) -> None:
        email = self.settings.email
        assert email is not None and message.to
        mail = EmailMessage()
        mail["From"] = email.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Message-ID"] = message.message_id
        mail["Date"] = formatdate(localtime=False)
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        cafile = None
        if email.ca_bundle:
            path = Path(email.ca_bundle).expanduser()
            cafile = str(path if path.is_absolute() else self.base_dir / path)
        context = ssl.create_default_context(cafile=cafile)
        if email.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(timeout=email.timeout_seconds, context=context)
        else:
            client = smtplib.SMTP(timeout=email.timeout_seconds)
        # the whole exchange within its deadline: `timeout` bounds each read, and a server
        # answering a byte at a time held the run (inputs/deadline.py)
        seconds = DEADLINE_TIMEOUTS * email.timeout_seconds
        try:
            with cut_off(seconds, lambda: client.sock):
                # connected here, not by the constructor, so the greeting comes within the
                # deadline too; the name TLS checks is the one the constructor would have kept
                client._host = email.host  # noqa: SLF001
                client.connect(email.host, email.port)
                if email.security == "starttls":
                    client.starttls(context=context)
                if email.username is not None and email.password is not None:
                    client.login(self._secret(email.username), self._secret(email.password))
                client.send_message(mail)
        finally:
            # the message is sent once the server took it: its answer to QUIT changes nothing
            with contextlib.suppress(OSError, smtplib.SMTPException, AnswerCutOff), \
                    cut_off(seconds, lambda: client.sock):
                client.quit()
            client.close()

    def _webhook(self, message: DigestMessage) -> None:
        hook = self.settings.webhook
        assert hook is not None
        url = self._secret(hook.url)
        try:
            http_url(url)  # a host past 63 characters a label was exit 5 (urllib3's parse error)
        except ValueError as exc:
            raise RuntimeError(f"the webhook URL is {exc}") from None
        key = message.message_id.strip("<>")
        # the status is the answer: the body is never read (an endpoint that sent one without
        # end, or a byte at a time, held the run; `timeout` bounds each read, not the body),
        # and the status line and headers come within the deadline (inputs/deadline.py)
        with requests.Session() as session:
            session.mount("http://", WatchedAdapter())
            session.mount("https://", WatchedAdapter())
            with session.post(url, json={"text": message.text}, timeout=hook.timeout_seconds,
                              headers={"Idempotency-Key": key, "X-Kamrules-Message-Id": key},
                              stream=True) as reply:
                if reply.status_code >= 300:
                    raise RuntimeError(f"webhook answered {reply.status_code}")


def send_all(messages: list[DigestMessage], settings: DigestSettings, base_dir: Path,
             store: Any) -> DigestReport:
    """Retry earlier failures, then send this run's messages not yet sent; record each."""
    sender = Sender(settings, base_dir)
    current = {m.message_id + m.channel for m in messages}
    retries = [m for m in store.failed_digests() if m.message_id + m.channel not in current]
    report = DigestReport(outcome="ok")
    for message in [*retries, *messages]:
        if message.status == "skipped":
            report.messages.append(message)
            continue
        if message.status == "failed" and message not in retries:  # its template failed: no text
            report.messages.append(message)
            report.outcome = "failed"
            continue
        if store.digest_sent(message.message_id, message.channel):
            report.messages.append(message.model_copy(update={"status": "already_sent"}))
            continue
        try:
            sender.send(message)
        except (OSError, smtplib.SMTPException, requests.RequestException, RuntimeError,
                SecretError, AnswerCutOff) as exc:
            failed = message.model_copy(update={
                "status": "failed", "error": sender.redact(f"{type(exc).__name__}: {exc}")[:500]})
            store.record_digest(failed)
            report.messages.append(failed)
            report.outcome = "failed"
            continue
        checkpoint("digest_sent")  # the window: sent, not yet recorded
        sent = message.model_copy(update={"status": "sent", "error": None})
        store.record_digest(sent)
        report.messages.append(sent)
    return report
