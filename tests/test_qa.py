"""Unit tests for the deterministic reply QA in workflows/qa.py."""

from __future__ import annotations

import pytest

from contracts import NormalizedTicket, QaFinding, QaReport
from workflows.qa import QaPolicy, check_reply, feedback_lines

CUSTOMER_EMAIL = "anna@example.com"

GOOD_REPLIES = {
    "en": (
        "Hi Anna,\n\n"
        "Thank you for reaching out about the double charge on your March invoice. "
        "The second payment was reversed today and will show on your statement soon. "
        "If anything still looks wrong, write to billing@aiflow.example or reply here.\n\n"
        "Best regards,\n"
        "Sam\n"
        "The aiflow support team"
    ),
    "de": (
        "Hallo Anna,\n\n"
        "vielen Dank für Ihre Nachricht. Die doppelte Abbuchung vom März wurde heute "
        "storniert und erscheint in wenigen Werktagen auf Ihrem Kontoauszug.\n\n"
        "Viele Grüße\n"
        "Ihr aiflow Support-Team"
    ),
    "fr": (
        "Bonjour Anna,\n\n"
        "Merci pour votre message. Le double prélèvement de mars a été annulé aujourd'hui "
        "et apparaîtra sur votre relevé d'ici quelques jours ouvrés.\n\n"
        "Cordialement,\n"
        "L'équipe support aiflow"
    ),
    "es": (
        "Hola Anna:\n\n"
        "Gracias por escribirnos. El cobro duplicado de marzo se anuló hoy y aparecerá en "
        "su extracto en unos días hábiles. Todo lo demás está en orden.\n\n"
        "Un saludo,\n"
        "El equipo de soporte de aiflow"
    ),
}

FILLER = "Thank you for reaching out about the double charge on your March invoice."


def make_ticket(customer_email: str = CUSTOMER_EMAIL) -> NormalizedTicket:
    return NormalizedTicket(
        ticket_id="T-1",
        subject="Double charge",
        body="I was charged twice for March.",
        customer_email=customer_email,
        customer_name="Anna",
        channel="email",
        customer_tier="pro",
        language="en",
    )


def en_reply(middle: str) -> str:
    """A well-formed English reply with `middle` as its second paragraph."""
    return f"Hi Anna,\n\n{FILLER}\n\n{middle}\n\nBest regards,\nThe aiflow support team"


def checks(report: QaReport) -> list[str]:
    return [f.check for f in report.findings]


def messages(report: QaReport) -> list[str]:
    return [f.message for f in report.findings]


# --- good replies ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
def test_good_reply_passes_in_each_language(language: str) -> None:
    report = check_reply(GOOD_REPLIES[language], make_ticket(), language)
    assert report == QaReport(passed=True, findings=[])


def test_passes_with_a_greeting_from_another_language() -> None:
    reply = GOOD_REPLIES["de"].replace("Hallo Anna,", "Hello Anna,")
    assert check_reply(reply, make_ticket(), "de").findings == []


# --- length ---------------------------------------------------------------------------


def test_short_reply_fails_length() -> None:
    reply = "Hi Anna,\n\nDone.\n\nBest regards,\nSam"
    report = check_reply(reply, make_ticket(), "en")
    assert report.passed is False
    assert report.findings == [
        QaFinding(check="length", message="reply is 34 characters; minimum is 80")
    ]


def test_length_counts_the_stripped_reply() -> None:
    reply = "\n\n   " + GOOD_REPLIES["en"] + "   \n"
    policy = QaPolicy(max_chars=len(GOOD_REPLIES["en"]))
    assert check_reply(reply, make_ticket(), "en", policy).findings == []


def test_max_chars_override_takes_effect() -> None:
    reply = GOOD_REPLIES["en"]
    report = check_reply(reply, make_ticket(), "en", QaPolicy(max_chars=100))
    assert messages(report) == [f"reply is {len(reply)} characters; maximum is 100"]
    assert checks(report) == ["length"]


def test_min_chars_override_takes_effect() -> None:
    reply = "Hi Anna,\n\nDone.\n\nBest regards,\nSam"
    assert check_reply(reply, make_ticket(), "en", QaPolicy(min_chars=10)).passed is True


# --- greeting and sign-off ------------------------------------------------------------


def test_missing_greeting_names_the_expected_language() -> None:
    reply = GOOD_REPLIES["de"].replace("Hallo Anna,", "Anna,")
    report = check_reply(reply, make_ticket(), "de")
    assert report.findings == [
        QaFinding(
            check="greeting",
            message="first line does not start with a greeting "
            "(expected language 'de', e.g. 'Hallo')",
        )
    ]


def test_unknown_language_falls_back_to_english() -> None:
    reply = GOOD_REPLIES["en"].replace("Hi Anna,", "Olá Anna,")
    report = check_reply(reply, make_ticket(), "pt-BR")
    assert messages(report) == [
        "first line does not start with a greeting (expected language 'en', e.g. 'Hello')"
    ]


def test_greeting_may_be_wrapped_in_markdown() -> None:
    reply = GOOD_REPLIES["en"].replace("Hi Anna,", "**Hi Anna,**")
    assert check_reply(reply, make_ticket(), "en").findings == []


def test_greeting_must_be_a_whole_word() -> None:
    reply = GOOD_REPLIES["en"].replace("Hi Anna,", "History of your ticket:")
    assert checks(check_reply(reply, make_ticket(), "en")) == ["greeting"]


def test_missing_sign_off() -> None:
    reply = GOOD_REPLIES["fr"].replace("Cordialement,\n", "")
    report = check_reply(reply, make_ticket(), "fr")
    assert report.findings == [
        QaFinding(
            check="sign_off",
            message="none of the last 3 lines starts with a sign-off "
            "(expected language 'fr', e.g. 'Cordialement')",
        )
    ]


def test_sign_off_more_than_three_lines_from_the_end_does_not_count() -> None:
    reply = GOOD_REPLIES["en"] + "\nSupport desk\nBerlin"
    assert checks(check_reply(reply, make_ticket(), "en")) == ["sign_off"]


# --- internal notes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("[Internal] Customer is difficult.", "contains internal text '[internal]'"),
        ("Internal note: check the ledger.", "contains internal text 'internal note'"),
        ("Note to agent: verify first.", "contains internal text 'note to agent'"),
        ("Do not send: still waiting on billing.", "contains internal text 'do not send:'"),
        ("DO NOT SEND until approved.", "contains internal text 'DO NOT SEND'"),
        ("TODO confirm the refund amount.", "contains internal text 'TODO'"),
        ("FIXME wrong date below.", "contains internal text 'FIXME'"),
        ("Your order XXX has shipped.", "contains internal text 'XXX'"),
        ("<!-- draft v2 --> Your order has shipped.", "contains internal text '<!--'"),
        ("Hi {{customer_name}}, it shipped.", "contains unfilled placeholder '{{customer_name}}'"),
        ("Your order {order_id} has shipped.", "contains unfilled placeholder '{order_id}'"),
        ("Your order <placeholder> has shipped.", "contains unfilled placeholder '<placeholder>'"),
        ("Signed, [Your Name].", "contains unfilled placeholder '[Your Name]'"),
    ],
)
def test_internal_note_markers(snippet: str, message: str) -> None:
    report = check_reply(en_reply(snippet), make_ticket(), "en")
    assert report.findings == [QaFinding(check="internal_note", message=message)]


def test_ordinary_words_are_not_internal_markers() -> None:
    reply = en_reply("Please do not send us your password; todo is fine, Todo too.")
    assert check_reply(reply, make_ticket(), "en").findings == []


# --- secrets --------------------------------------------------------------------------

# Built by concatenation so secret scanners do not flag this file.
SECRETS = [
    ("sk-" + "proj-" + "a1B2c3D4e5F6g7H8i9", "Your key is {}.", "an OpenAI-style API key"),
    ("AKIA" + "IOSFODNN7EXAMPLE", "Use {} for access.", "an AWS access key"),
    ("ghp" + "_" + "A1b2" * 9, "Token {} works.", "a GitHub token"),
    ("xoxb" + "-123456789012-abcdefGHIJ", "Token {} works.", "a Slack token"),
    ("-----BEGIN RSA " + "PRIVATE KEY-----", "{}\nMIIEow", "a private key"),
    ("Xk9#mP2q", "Your temporary password: {}", "a password"),
    ("geheim", "Dein Passwort: {}", "a password"),
    ("Soleil2024", "Votre mot de passe : {} (à changer).", "a password"),
    ("s3cr3t", "Tu contraseña: {}", "a password"),
    ("abc123def456", "Set api_key={} in the app.", "an API key"),
    ("abc123def456", "Set API-Key: {} in the app.", "an API key"),
]


@pytest.mark.parametrize(("secret", "template", "label"), SECRETS)
def test_secret_is_flagged_without_being_repeated(secret: str, template: str, label: str) -> None:
    report = check_reply(en_reply(template.format(secret)), make_ticket(), "en")
    assert report.findings == [
        QaFinding(check="secret", message=f"contains what looks like {label}")
    ]
    assert secret not in report.findings[0].message
    assert all(secret not in line for line in feedback_lines(report))


def test_password_advice_is_not_a_secret() -> None:
    reply = en_reply("To change your password: open Settings and choose Security.")
    assert check_reply(reply, make_ticket(), "en").findings == []


# --- personal data --------------------------------------------------------------------


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559"])
def test_card_number_is_flagged_and_masked(card: str) -> None:
    report = check_reply(en_reply(f"We charged card {card} twice."), make_ticket(), "en")
    digits = card.replace(" ", "").replace("-", "")
    assert report.findings == [
        QaFinding(check="pii", message=f"contains a payment card number ending {digits[-4:]}")
    ]
    assert digits not in report.findings[0].message
    assert card not in report.findings[0].message


def test_luhn_invalid_digit_runs_are_not_flagged() -> None:
    reply = en_reply("Your order 1234567890123 and ticket 4111 1111 1111 1112 are linked.")
    assert check_reply(reply, make_ticket(), "en").findings == []


def test_all_zero_dummy_card_is_not_flagged() -> None:
    reply = en_reply("Enter 0000 0000 0000 0000 to test the form.")
    assert check_reply(reply, make_ticket(), "en").findings == []


def test_repeated_card_number_gives_one_finding() -> None:
    reply = en_reply("Card 4111111111111111, again: 4111 1111 1111 1111.")
    assert messages(check_reply(reply, make_ticket(), "en")) == [
        "contains a payment card number ending 1111"
    ]


@pytest.mark.parametrize(
    ("iban", "last4"),
    [
        ("DE89 3704 0044 0532 0130 00", "3000"),
        ("GB29NWBK60161331926819", "6819"),
        ("BE68 5390 0754 7034 EUR", "7034"),  # a currency code is not part of the IBAN
    ],
)
def test_iban_is_flagged_and_masked(iban: str, last4: str) -> None:
    report = check_reply(en_reply(f"We refunded {iban} today."), make_ticket(), "en")
    assert report.findings == [QaFinding(check="pii", message=f"contains an IBAN ending {last4}")]
    assert iban.split()[0] not in report.findings[0].message


def test_iban_digit_groups_are_not_read_as_a_card_number() -> None:
    # The BBAN 370400440532013001 passes the Luhn check on its own.
    reply = en_reply("We refunded to DE62 3704 0044 0532 0130 01 today.")
    assert messages(check_reply(reply, make_ticket(), "en")) == ["contains an IBAN ending 3001"]


def test_iban_with_bad_checksum_is_not_flagged() -> None:
    reply = en_reply("We refunded to DE88 3704 0044 0532 0130 00 today.")
    assert check_reply(reply, make_ticket(), "en").findings == []


def test_ssn_is_flagged_but_invalid_areas_are_not() -> None:
    report = check_reply(en_reply("Your SSN 123-45-6789 is on file."), make_ticket(), "en")
    assert report.findings == [
        QaFinding(check="pii", message="contains what looks like a US Social Security number")
    ]
    assert "6789" not in report.findings[0].message
    for number in ["000-12-3456", "666-12-3456", "912-34-5678"]:
        assert check_reply(en_reply(f"Ref {number}."), make_ticket(), "en").findings == []


def test_third_party_email_is_flagged_and_masked() -> None:
    report = check_reply(en_reply("Bob (bob.smith@othercorp.com) asked too."), make_ticket(), "en")
    assert report.findings == [
        QaFinding(
            check="pii",
            message="contains a third-party email address (b***@othercorp.com)",
        )
    ]


def test_customer_and_support_emails_are_not_flagged() -> None:
    reply = en_reply(
        "We wrote to Anna@Example.com; reply to help@aiflow.example or eu@billing.aiflow.example."
    )
    assert check_reply(reply, make_ticket(), "en").findings == []


def test_allowed_email_domains_override_takes_effect() -> None:
    reply = en_reply("Please write to help@aiflow.example.")
    policy = QaPolicy(allowed_email_domains=["support.example"])
    assert messages(check_reply(reply, make_ticket(), "en", policy)) == [
        "contains a third-party email address (h***@aiflow.example)"
    ]


# --- forbidden promises ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "phrase"),
    [
        ("We guarantee delivery by Friday.", "guarantee"),
        ("This is GUARANTEED to work.", "guaranteed"),
        ("You will get a FULL REFUND.", "full refund"),
        ("We are 100% sure.", "100%"),
        ("It will never happen again.", "never happen again"),
        ("Wir garantieren die Lieferung.", "garantieren"),
        ("Sie erhalten eine Entschädigung.", "Entschädigung"),
        ("Vous aurez un remboursement intégral.", "remboursement intégral"),
        ("Le garantizamos la entrega.", "garantizamos"),
    ],
)
def test_forbidden_promise(snippet: str, phrase: str) -> None:
    report = check_reply(en_reply(snippet), make_ticket(), "en")
    assert report.findings == [
        QaFinding(check="forbidden_promise", message=f"promises '{phrase}', which policy forbids")
    ]


def test_forbidden_phrases_match_whole_words_only() -> None:
    report = check_reply(en_reply("Guaranteed delivery, garantie incluse."), make_ticket(), "en")
    assert messages(report) == ["promises 'guaranteed', which policy forbids"]


def test_forbidden_promises_override_takes_effect() -> None:
    reply = en_reply("We guarantee a discount next month.")
    policy = QaPolicy(forbidden_promises=["discount"])
    assert messages(check_reply(reply, make_ticket(), "en", policy)) == [
        "promises 'discount', which policy forbids"
    ]


# --- ordering and feedback ------------------------------------------------------------


def test_findings_follow_check_order() -> None:
    reply = (
        "Anna,\n\nWe guarantee a fix. TODO check card 4111 1111 1111 1111 and key "
        "AKIA" + "IOSFODNN7EXAMPLE" + ".\n\nSam"
    )
    report = check_reply(reply, make_ticket(), "en", QaPolicy(max_chars=50))
    assert checks(report) == [
        "length",
        "greeting",
        "sign_off",
        "internal_note",
        "secret",
        "pii",
        "forbidden_promise",
    ]


def test_feedback_lines_for_a_two_finding_report() -> None:
    reply = en_reply("Card 4111 1111 1111 1111 gets a full refund.")
    report = check_reply(reply, make_ticket(), "en")
    assert checks(report) == ["pii", "forbidden_promise"]
    assert feedback_lines(report) == [
        "Remove the payment card number; never repeat card numbers.",
        "Do not promise: 'full refund'.",
    ]


def test_feedback_lines_are_deduplicated() -> None:
    reply = en_reply("Cards 4111 1111 1111 1111 and 5500 0055 5555 5559 were charged.")
    report = check_reply(reply, make_ticket(), "en")
    assert messages(report) == [
        "contains a payment card number ending 1111",
        "contains a payment card number ending 5559",
    ]
    assert feedback_lines(report) == ["Remove the payment card number; never repeat card numbers."]


def test_feedback_lines_for_every_kind_of_finding() -> None:
    reply = (
        "Anna,\n\nTODO {name} password: hunter2 AKIA" + "IOSFODNN7EXAMPLE" + " card "
        "4111 1111 1111 1111 IBAN DE89 3704 0044 0532 0130 00 SSN 123-45-6789 "
        "bob@othercorp.com Wir garantieren es."
    )
    report = check_reply(reply, make_ticket(), "de", QaPolicy(max_chars=100))
    assert feedback_lines(report) == [
        "Shorten the reply to at most 100 characters.",
        "Start with a greeting such as 'Hallo'.",
        "End with a sign-off such as 'Viele Grüße'.",
        "Remove 'TODO'; write only text meant for the customer.",
        "Replace the placeholder '{name}' with real content or remove it.",
        "Remove the AWS access key; never include credentials in a reply.",
        "Remove the password; never include credentials in a reply.",
        "Remove the payment card number; never repeat card numbers.",
        "Remove the IBAN; never repeat bank account numbers.",
        "Remove the Social Security number; never repeat it.",
        "Remove email addresses other than the customer's and ours.",
        "Do not promise: 'garantieren'.",
    ]
    joined = "\n".join(feedback_lines(report))
    for leaked in ["hunter2", "IOSFODNN7EXAMPLE", "1111 1111", "3704", "6789", "bob@"]:
        assert leaked not in joined


def test_feedback_for_short_reply_and_passing_report() -> None:
    report = check_reply("Hi Anna,\n\nDone.\n\nBest regards,\nSam", make_ticket(), "en")
    assert feedback_lines(report) == ["Write a fuller reply of at least 80 characters."]
    assert feedback_lines(QaReport(passed=True, findings=[])) == []
