import logging

import dagster as dg
import pytest

from datafactory_assets.alerts.channels import (
    EmailChannel,
    SlackChannel,
    channel_resources,
    channels_configured,
    deliver,
    redact,
)
from datafactory_assets.alerts.messages import Message
from datafactory_assets.settings import ConfigError
from datafactory_tests.alerts.receivers import SlackReceiver, SmtpReceiver

CANARY = "canary-s3cr3t-7f1e"
MESSAGE = Message(subject="[Data-Factory] ALERT: check gaps failed on candles/btc_usdt",
                  body="partition 2024-03-01-00:00: 12 missing candles")
log = logging.getLogger("datafactory_tests.alerts")


@pytest.fixture
def slack():
    with SlackReceiver() as receiver:
        yield receiver


def test_slack_posts_the_message_as_json_text_to_the_webhook(slack):
    channel = SlackChannel(webhook_url=f"{slack.url}/services/T0/B0/{CANARY}")
    assert deliver([MESSAGE], [channel, EmailChannel()], log) == 1
    assert slack.posts == [{"path": f"/services/T0/B0/{CANARY}", "json": {"text": MESSAGE.text}}]


def test_a_refused_webhook_is_logged_without_its_secret_and_does_not_raise(slack, caplog):
    slack.status = 403
    channel = SlackChannel(webhook_url=f"{slack.url}/services/T0/B0/{CANARY}")
    with caplog.at_level(logging.WARNING):
        assert deliver([MESSAGE], [channel], log) == 0
    assert "HTTP 403" in caplog.text and "slack webhook http://127.0.0.1" in caplog.text
    assert CANARY not in caplog.text


def test_an_unreachable_webhook_is_logged_without_its_path(caplog):
    from datafactory_assets.launcher import free_port

    channel = SlackChannel(webhook_url=f"http://127.0.0.1:{free_port()}/services/T0/B0/{CANARY}", timeout_s=2)
    with caplog.at_level(logging.WARNING):
        assert deliver([MESSAGE], [channel], log) == 0
    assert "ConnectionError" in caplog.text
    assert CANARY not in caplog.text and "/services/T0" not in caplog.text


def test_plain_smtp_delivers_subject_sender_recipients_and_body():
    with SmtpReceiver() as smtp:
        channel = EmailChannel(host="127.0.0.1", port=smtp.port, sender="factory@example.org",
                               recipients="ops@example.org, oncall@example.org")
        assert deliver([MESSAGE], [channel], log) == 1
    (mail,) = smtp.messages
    assert mail["Subject"] == MESSAGE.subject
    assert (mail["From"], mail["To"]) == ("factory@example.org", "ops@example.org, oncall@example.org")
    assert mail.get_payload().strip() == MESSAGE.body


def test_starttls_and_login_with_a_self_signed_certificate(tmp_path):
    with SmtpReceiver(cert_dir=tmp_path, user="factory", password=CANARY) as smtp:
        channel = EmailChannel(host="127.0.0.1", port=smtp.port, user="factory", password=CANARY, starttls=True,
                               ca_file=smtp.ca_file, sender="factory@example.org", recipients="ops@example.org")
        assert deliver([MESSAGE], [channel], log) == 1
    assert [m["Subject"] for m in smtp.messages] == [MESSAGE.subject]
    assert smtp.logins == ["LOGIN:ok"] or smtp.logins == ["PLAIN:ok"]


def test_a_refused_login_is_logged_without_the_password(tmp_path, caplog):
    with SmtpReceiver(cert_dir=tmp_path, user="factory", password="the-right-one") as smtp:
        channel = EmailChannel(host="127.0.0.1", port=smtp.port, user="factory", password=CANARY, starttls=True,
                               ca_file=smtp.ca_file, sender="factory@example.org", recipients="ops@example.org")
        with caplog.at_level(logging.WARNING):
            assert deliver([MESSAGE], [channel], log) == 0
    assert "SMTPAuthenticationError" in caplog.text and f"smtp 127.0.0.1:{smtp.port}" in caplog.text
    assert CANARY not in caplog.text and not smtp.messages


def test_starttls_refuses_a_server_whose_certificate_is_not_trusted(tmp_path, caplog):
    with SmtpReceiver(cert_dir=tmp_path, user="factory", password=CANARY) as smtp:
        channel = EmailChannel(host="127.0.0.1", port=smtp.port, user="factory", password=CANARY, starttls=True,
                               sender="factory@example.org", recipients="ops@example.org")
        with caplog.at_level(logging.WARNING):
            assert deliver([MESSAGE], [channel], log) == 0
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and smtp.logins == []


def test_channels_are_off_without_their_environment():
    resources = channel_resources({})
    assert not resources["alert_slack"].enabled and not resources["alert_email"].enabled
    assert not channels_configured({"DATAFACTORY_SMTP_USER": "x"})


def test_configured_channels_take_their_values_through_envvar():
    env = {"DATAFACTORY_SLACK_WEBHOOK_URL": f"https://hooks.example/{CANARY}", "DATAFACTORY_SMTP_HOST": "mail",
           "DATAFACTORY_SMTP_PASSWORD": CANARY, "DATAFACTORY_SMTP_USER": "u", "DATAFACTORY_SMTP_FROM": "a@b",
           "DATAFACTORY_SMTP_TO": "c@d", "DATAFACTORY_SMTP_STARTTLS": "true"}
    resources = channel_resources(env)
    assert channels_configured(env)
    assert resources["alert_slack"].webhook_url == dg.EnvVar("DATAFACTORY_SLACK_WEBHOOK_URL")
    email = resources["alert_email"]
    assert isinstance(email.password, dg.EnvVar) and email.password.env_var_name == "DATAFACTORY_SMTP_PASSWORD"
    assert (email.starttls, email.port) == (True, 587)
    assert CANARY not in repr(resources)


@pytest.mark.parametrize(("env", "named"), [
    ({"DATAFACTORY_SMTP_HOST": "mail", "DATAFACTORY_SMTP_TO": "c@d"}, "DATAFACTORY_SMTP_FROM"),
    ({"DATAFACTORY_SMTP_HOST": "mail", "DATAFACTORY_SMTP_FROM": "a@b"}, "DATAFACTORY_SMTP_TO"),
    ({"DATAFACTORY_SMTP_HOST": "mail", "DATAFACTORY_SMTP_FROM": "a@b", "DATAFACTORY_SMTP_TO": "c@d",
      "DATAFACTORY_SMTP_PORT": "smtp"}, "DATAFACTORY_SMTP_PORT"),
    ({"DATAFACTORY_SMTP_HOST": "mail", "DATAFACTORY_SMTP_FROM": "a@b", "DATAFACTORY_SMTP_TO": "c@d",
      "DATAFACTORY_SMTP_STARTTLS": "maybe"}, "DATAFACTORY_SMTP_STARTTLS"),
])
def test_a_half_configured_email_channel_fails_at_load_naming_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        channel_resources(env)


def test_redact_masks_the_longest_secret_first():
    url = f"https://hooks.example/services/{CANARY}"
    assert redact(f"failed on {url} (path /services/{CANARY})", SlackChannel(webhook_url=url).secrets) == \
        "failed on *** (path ***)"
