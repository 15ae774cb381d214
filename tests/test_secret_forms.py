"""A CRM that echoes the token back, plain, URL-encoded and base64: no output and no state file
ever holds any of those forms (issue #13, item 8).

The server on 127.0.0.1 answers every HubSpot call with a 401 whose message repeats the
`Authorization` header it received in each form, as a misbehaving proxy or API might.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

from tests import kamrules_process

TOKEN = "pat-na1-6f1c2b7e/+x=9"  # characters that URL-encoding and base64 change


def forms(token: str) -> list[str]:
    raw = token.encode()
    return [token, quote(token, safe=""), quote_plus(token), base64.b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode()]


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps({"status": "error", "category": "INVALID_AUTHENTICATION",
                           "message": "bad token " + " | ".join(forms(sent))}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_no_form_of_the_token_reaches_output_or_state(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "kamrules.yaml").write_text(
            "crm:\n  type: hubspot\n  access_token: {env: HS_TOKEN}\n"
            f"  base_url: http://127.0.0.1:{server.server_address[1]}\n  incremental: false\n"
            "  retry: {attempts: 1}\nstate_dir: state\n")
        env = kamrules_process.environment(HS_TOKEN=f"  {TOKEN}\n")
        outputs = []
        for args in (["plan", "--json"], ["run"], ["history", "--json"]):
            proc = kamrules_process.run(args, cwd=tmp_path, env=env, timeout=120)
            outputs += [proc.stdout, proc.stderr]
            if args[0] != "history":
                assert proc.returncode == 4, proc.stderr
        assert "***" in "".join(outputs)  # the server's message was shown, masked
        stored = [p.read_bytes().decode("latin-1") for p in (tmp_path / "state").rglob("*")
                  if p.is_file()]
        for form in forms(TOKEN):
            for text in outputs + stored:
                assert form not in text
    finally:
        server.shutdown()


def test_a_digest_failure_never_shows_the_webhook_url_or_the_smtp_password_in_any_form(
        tmp_path: Path) -> None:
    """The digest reads its secrets like the connectors do (whitespace stripped) and masks the
    same forms in the error it records: a Slack webhook URL is itself a credential."""
    from kamrules.digest.config import DigestSettings
    from kamrules.digest.send import Sender

    url = f"http://127.0.0.1:9/hooks/{TOKEN}"
    (tmp_path / "hook").write_text(url + "\n")
    settings = DigestSettings.model_validate({"webhook": {"url": {"file": "hook"}}})
    sender = Sender(settings, tmp_path)
    assert settings.webhook is not None
    assert sender._secret(settings.webhook.url) == url  # the newline a paste leaves is gone
    echoed = " ".join(forms(url)) + " " + " ".join(forms(TOKEN))
    masked = sender.redact(f"ConnectionError: {echoed}")
    assert not any(f in masked for f in forms(url)), masked
