"""Real e-mail in (issue 13): .eml fixtures (tests/fixtures/mail, written by its
make_fixtures.py) read as tickets, and intake of what real mail carries: HTML bodies,
replies with quoted history and signatures, display names and internationalised
addresses, long bodies triaged on an excerpt, channel aliases; hostile inputs bounded."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from contracts import NormalizedTicket, RunState, Ticket
from contracts.limits import MAX_MESSAGE_BYTES
from starter import submit as submit_cmd
from starter.mail import ticket_from_message
from starter.submit import offload_large_body, submit, wait_settled
from starter.terminal import CliError
from starter.ticket_file import iter_tickets
from tests.conftest import running_worker
from workflows.intake import validate_ticket
from workflows.mailtext import (
    MAX_HTML_CHARS,
    html_to_text,
    looks_like_html,
    parse_address,
    split_reply,
)
from workflows.triage import TriageWorkflow

MAIL = Path(__file__).resolve().parent / "fixtures" / "mail"
LIMIT = 20_000
SUPPORT = "Nordwind Support <support@nordwind.example>"  # every fixture's To


def read(name: str) -> dict:
    [(where, raw)] = list(iter_tickets(MAIL / name))
    assert where == name
    return raw


def accepted(raw: dict, limit: int = LIMIT) -> NormalizedTicket:
    normalized, rejections = validate_ticket(Ticket.model_validate(raw), limit)
    assert rejections == []
    assert normalized is not None
    return normalized


def rejected(raw: dict) -> list[tuple[str, str | None, str]]:
    normalized, rejections = validate_ticket(Ticket.model_validate(raw), LIMIT)
    assert normalized is None
    return [(r.code, r.field, r.message) for r in rejections]


def base() -> dict:
    return {"ticket_id": "T-1", "body": "Where is my parcel?", "customer_email": "a@example.com"}


def with_(**fields: object) -> dict:
    return base() | fields


# --- the fixtures as tickets --------------------------------------------------------------


def test_multipart_alternative_prefers_the_quoted_printable_text_part() -> None:
    body = (
        "Hi,\n\nthe tracking link for order A-55601 hasn't updated for 6 days \u2013 it still "
        "says \u201clabel created\u201d. Is the parcel lost?\n\nAnna\n"
    )
    assert read("T-2001-alternative.eml") == {
        "ticket_id": "T-2001-alternative",
        "subject": "Tracking link not updating",
        "body": body,
        "customer_email": "anna.lindqvist@example.se",
        "customer_name": "Anna Lindqvist",
        "channel": "email",
        "metadata": {
            "message_id": "<20240514091200.4711@mail.example.se>",
            "to": SUPPORT,
            "x_mailer": "Thunderbird 115.10.1",
            "received_count": "1",
        },
    }
    t = accepted(read("T-2001-alternative.eml"))
    assert (t.body, t.body_excerpt, t.body_chars, t.quoted_chars, t.signature_chars) == (
        body.strip(),
        False,
        len(body),
        0,
        0,
    )


def test_html_only_newsletter_is_reduced_to_text_with_its_links() -> None:
    raw = read("newsletter (1).eml")
    assert raw == {
        "ticket_id": "M-acb3c562d81f7eea",  # the name is no ticket id: from the Message-ID
        "subject": "You have WON 500 free spins!!!",
        "body": "Congratulations!\n\nYou have won 500 free spins. Claim them before midnight:"
        "\n\n[Claim now](https://lucky-spins.example/claim?u=981)\n\n"
        "  * No deposit needed\n  * Instant payout\n\n"
        "Not interested? [Unsubscribe](https://lucky-spins.example/u?id=981)\n",
        "customer_email": "promo@lucky-spins.example",
        "customer_name": "Lucky Spins",
        "channel": "email",
        "metadata": {
            "message_id": "<nl-20240514-001@lucky-spins.example>",
            "to": SUPPORT,
            "reply_to": "no-reply@lucky-spins.example",
            "list_unsubscribe": "yes",
            "list_id": "Lucky Spins News <news.lucky-spins.example>",
            "precedence": "bulk",
            "x_mailer": "MassMailer 3.2",
            "received_count": "2",
            "html_only": "yes",
            "links": "2",
        },
    }
    body = accepted(raw).body
    assert body == (
        "Congratulations!\n\nYou have won 500 free spins. Claim them before midnight:\n\n"
        "[Claim now](https://lucky-spins.example/claim?u=981)\n\n"
        "* No deposit needed\n* Instant payout\n\n"
        "Not interested? [Unsubscribe](https://lucky-spins.example/u?id=981)"
    )
    # the style, the script, the title and the hidden keyword stuffing are gone
    assert ("<" in body, "track(" in body, "News" in body, "invoice" in body) == (
        False,
        False,
        False,
        False,
    )


def test_iso_8859_1_label_with_a_windows_1252_euro_and_an_encoded_subject() -> None:
    assert read("T-2003-latin1.eml") == {
        "ticket_id": "T-2003-latin1",
        "subject": "Rücksendung für Bestellung A-55980",
        "body": "Guten Tag,\n\nich möchte die Jacke (Größe M, 129,00 €) "
        "zurückschicken.\n\nViele Grüße\nWalter Weiß\n",
        "customer_email": "walter.frank@example.de",
        "customer_name": "Weiß, Walter",
        "channel": "email",
        "metadata": {
            "message_id": "<000001da.0001@example.de>",
            "to": SUPPORT,
            "x_mailer": "Microsoft Outlook 16.0",
        },
    }


def test_internationalised_sender_with_a_quoted_display_name() -> None:
    raw = read("T-2004-idn.eml")
    assert raw == {
        "ticket_id": "T-2004-idn",
        "subject": "Rechnung doppelt abgebucht",
        "body": "Hallo,\n\nSie haben mir die Rechnung RE-2024-118 zweimal abgebucht. Bitte "
        "erstatten Sie den doppelten Betrag.\n\nMit freundlichen Grüßen\n"
        "Jörg Müller\n",
        "customer_email": "müller@bücher.de",
        "customer_name": "Müller, Jörg",
        "channel": "email",
        "language": "de",
        "metadata": {"message_id": "<c0ffee.42@bücher.de>", "to": SUPPORT},
    }
    t = accepted(raw)
    # the sign-off is the customer's: kept
    assert (
        t.customer_email,
        t.customer_name,
        t.language,
        t.body.endswith("Jörg Müller"),
    ) == (
        "müller@bücher.de",
        "Müller, Jörg",
        "de",
        True,
    )


def test_reply_loses_its_quoted_history_and_signature() -> None:
    raw = read("T-2005-reply.eml")
    assert (raw["customer_name"], raw["metadata"]) == (
        "Sam Carter",
        {
            "message_id": "<CAB=reply.7731@mail.example.com>",
            "to": SUPPORT,
            "reply_to": "sam.c+orders@example.com",
        },
    )
    t = accepted(raw)
    assert t.body == (
        "Hi,\n\nthe refund still hasn't arrived on my card, it's been 12 days now.\n"
        "Can you check what happened?\n\nThanks,\nSam"
    )
    signature = "--\nSam Carter | Carter & Sons\n+44 20 7946 0000"
    assert (t.signature_chars, t.quoted_chars, t.body_chars) == (len(signature), 222, 385)


def test_outlook_reply_below_a_rule_and_a_von_gesendet_block() -> None:
    raw = read("T-2006-outlook.eml")
    t = accepted(raw)
    assert t.body == (
        "Hallo,\n\ndas Paket ist leider immer noch nicht da. Können Sie bitte "
        "nachsehen?\n\nGruß\nSabine Koch"
    )
    everything_after = len(raw["body"].rstrip()) - len(t.body)  # the rule line and below
    assert (t.quoted_chars, t.signature_chars) == (everything_after, 0) == (232, 0)


def test_long_body_is_triaged_on_an_excerpt() -> None:
    raw = read("T-2007-long.eml")
    assert (len(raw["body"]), raw["metadata"]["attachments"]) == (60_000, "1")
    t = accepted(raw)
    assert (t.body, t.body_excerpt, t.body_chars, t.body_ref) == (
        raw["body"][:LIMIT].rstrip(),
        True,
        60_000,
        None,
    )


def test_long_body_offloaded_by_the_client_keeps_the_whole_by_reference() -> None:
    class Blobs:
        def __init__(self) -> None:
            self.kept: dict[str, str] = {}

        def put_blob(self, text: str) -> str:
            self.kept["sha256:x"] = text
            return "sha256:x"

    raw, blobs = read("T-2007-long.eml"), Blobs()
    sent = offload_large_body(Ticket.model_validate(raw), blobs, LIMIT)
    assert (len(sent.body), sent.body_ref, sent.body_chars) == (LIMIT, "sha256:x", 60_000)
    assert blobs.kept == {"sha256:x": raw["body"]}
    t = validate_ticket(sent, LIMIT)[0]
    assert (t.body, t.body_excerpt, t.body_chars, t.body_ref) == (
        raw["body"][:LIMIT].rstrip(),
        True,
        60_000,
        "sha256:x",
    )
    # HTML travels as its text: the excerpt is words, not the first 20,000 chars of markup
    html = "<html><head><style>" + "p{margin:0}" * 3000 + "</style></head><body>"
    html += "<p>My parcel A-1 never came.</p></body></html>"
    sent = offload_large_body(Ticket.model_validate(with_(body=html)), blobs, LIMIT)
    assert (sent.body, sent.body_chars) == ("My parcel A-1 never came.\n", len(html))


def test_malformed_but_readable_message() -> None:
    assert read("broken mail.eml") == {
        "ticket_id": "M-90565c04a731d045",  # no Message-ID: from the bytes
        "subject": "Pedido roto A-55777",
        "body": "El pedido llegó roto. ¿Pueden enviar otro?",
        "customer_email": "pablo.medina@example.es",
        "customer_name": "Pablo Medina",
        "channel": "email",
        "metadata": {"to": "support@nordwind.example", "attachments": "1"},
    }


def test_a_directory_reads_its_messages_and_ticket_files_in_name_order(tmp_path) -> None:
    found = [where for where, _ in iter_tickets(MAIL)]  # not bad/, not make_fixtures.py
    assert found == [
        "T-2001-alternative.eml",
        "T-2003-latin1.eml",
        "T-2004-idn.eml",
        "T-2005-reply.eml",
        "T-2006-outlook.eml",
        "T-2007-long.eml",
        "broken mail.eml",
        "newsletter (1).eml",
    ]
    shutil.copy(MAIL / "T-2004-idn.eml", tmp_path / "c.EML")
    (tmp_path / "a.jsonl").write_text(json.dumps(base()) + "\n\n" + json.dumps(base()) + "\n")
    (tmp_path / "b.json").write_text(json.dumps([base()]))
    (tmp_path / "notes.txt").write_text("not a ticket")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.jsonl").write_text("{oops")
    assert [where for where, _ in iter_tickets(tmp_path)] == [
        "a.jsonl: line 1",
        "a.jsonl: line 3",
        "b.json: item 1",
        "c.EML",
    ]


def test_file_problems_in_a_directory_name_the_file(tmp_path) -> None:
    def first_error(path: Path) -> str:
        with pytest.raises(CliError) as caught:
            list(iter_tickets(path))
        return str(caught.value)

    assert first_error(tmp_path) == f"{tmp_path} has no .eml, .json or .jsonl files"
    (tmp_path / "a.jsonl").write_text(json.dumps(base()) + "\n{oops\n")
    assert first_error(tmp_path) == (
        f"{tmp_path / 'a.jsonl'}: line 2 is not JSON: Expecting property name enclosed in "
        "double quotes at column 2"
    )
    (tmp_path / "a.jsonl").unlink()
    shutil.copy(MAIL / "bad" / "garbage.eml", tmp_path / "x.eml")
    assert first_error(tmp_path) == (
        f"{tmp_path / 'x.eml'} is not an e-mail message: it has no From, To or Subject"
    )


def test_garbage_and_oversized_messages_are_one_line_errors(tmp_path, capsys) -> None:
    garbage = MAIL / "bad" / "garbage.eml"
    with pytest.raises(CliError) as caught:
        list(iter_tickets(garbage))
    assert str(caught.value) == f"{garbage} is not an e-mail message: it has no From, To or Subject"
    big = tmp_path / "big.eml"
    big.write_bytes(b"From: a@example.com\r\n\r\n" + b"x" * MAX_MESSAGE_BYTES)
    with pytest.raises(CliError) as caught:
        list(iter_tickets(big))
    assert str(caught.value) == f"{big} has more than 26214400 bytes; the limit is 26214400"
    with pytest.raises(CliError) as caught:
        ticket_from_message(b"not a message, just words\n", "x", "x.eml")
    assert str(caught.value) == "x.eml is not an e-mail message: it has no From, To or Subject"
    code = submit_cmd.main([str(garbage)])
    assert (code, capsys.readouterr().err) == (
        2,
        f"aiflow submit: {garbage} is not an e-mail message: it has no From, To or Subject\n",
    )


# --- intake: addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '"Müller, Jörg" <müller@bücher.de>',
            ("müller@bücher.de", "Müller, Jörg"),
        ),
        (
            "Jörg Müller <MÜLLER@BÜCHER.DE>",
            ("müller@bücher.de", "Jörg Müller"),
        ),
        ("Tom Baker <Tom.Baker@Example.COM>", ("tom.baker@example.com", "Tom Baker")),
        ('"Tom \\"TJ\\" Baker" <tom@example.com>', ("tom@example.com", 'Tom "TJ" Baker')),
        ("<tom@example.com>", ("tom@example.com", "")),
        ('"tom@example.com" <tom@example.com>', ("tom@example.com", "")),
        ("a@xn--bcher-kva.de", ("a@bücher.de", "")),
        ("иван@пример.рф", ("иван@пример.рф", "")),  # one script throughout: no look-alike
    ],
)
def test_addresses_accepted(value: str, expected: tuple[str, str]) -> None:
    assert parse_address(value) == expected


def test_display_name_is_the_customer_name_unless_the_ticket_has_one() -> None:
    t = accepted(with_(customer_email='"Müller, Jörg" <müller@bücher.de>'))
    assert (t.customer_email, t.customer_name) == (
        "müller@bücher.de",
        "Müller, Jörg",
    )
    t = accepted(with_(customer_email="Jo <jo@example.com>", customer_name="Joanna Smith"))
    assert (t.customer_email, t.customer_name) == ("jo@example.com", "Joanna Smith")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a@b", "the part after the @-sign is not valid. It should have a period."),
        (
            "Tom <tom@example.com",
            "an open angle bracket at the start of the email address "
            "has to be followed by a close angle bracket at the end.",
        ),
        ("Tom <>", "an email address must have an @-sign."),
        (
            "x@example.test",
            "the part after the @-sign is a special-use or reserved name that "
            "cannot be used with email.",
        ),
        ("d\u0430niel@example.com", "it mixes Cyrillic and Latin letters (a look-alike address)."),
        ("daniel@\u0435xample.com", "it mixes Cyrillic and Latin letters (a look-alike address)."),
    ],
)
def test_invalid_addresses_say_why(value: str, reason: str) -> None:
    shown = repr(value)
    assert rejected(with_(customer_email=value)) == [
        (
            "invalid_email",
            "customer_email",
            f"customer_email {shown} is not a valid email address: {reason}",
        )
    ]


# --- intake: channels, HTML, replies ------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("E-Mail", "email"),
        ("e-mail", "email"),
        (" mail ", "email"),
        ("Web Form", "web"),
        ("webform", "web"),
        ("form", "web"),
        ("Telephone", "phone"),
        ("call", "phone"),
        ("Live  Chat", "chat"),
        ("EMAIL", "email"),
    ],
)
def test_channel_aliases(channel: str, expected: str) -> None:
    assert accepted(with_(channel=channel)).channel == expected


def test_unknown_channels_are_still_rejected() -> None:
    assert rejected(with_(channel="fax")) == [
        ("invalid_channel", "channel", "channel 'fax' is not one of chat, email, phone, web.")
    ]


def test_any_clients_html_body_is_reduced() -> None:
    gmail = (
        '<div dir="ltr">Hi,<div><br></div><div>my order <b>A-1</b> is late.</div>'
        '<div>See <a href="https://track.example/A-1">tracking</a>.</div></div>'
    )
    t = accepted(with_(body=gmail))
    assert t.body == "Hi,\n\nmy order A-1 is late.\nSee [tracking](https://track.example/A-1)."
    page = "<!DOCTYPE html><html><body><script>x()</script><p>Hello</p></body></html>"
    assert accepted(with_(body=page)).body == "Hello"
    # prose that shows a tag or two is not HTML
    prose = "The form shows <b>Error</b> and <script>alert(1)</script> then freezes."
    assert (looks_like_html(prose), accepted(with_(body=prose)).body) == (False, prose)


@pytest.mark.parametrize(
    ("new", "history"),
    [
        (
            "Danke!",
            "Am Mo., 13. Mai 2024 um 10:02 Uhr schrieb Nordwind <s@nordwind.example>:\n"
            "> Ihr Paket ist unterwegs.",
        ),
        (
            "Danke!",  # Gmail wraps a long attribution line
            "Am Mo., 13. Mai 2024 um 10:02 Uhr schrieb Nordwind Support <\n"
            "support@nordwind.example>:\n> Ihr Paket ist unterwegs.",
        ),
        (
            "Merci.",
            "Le lun. 13 mai 2024 à 10:02, Nordwind <s@nordwind.example> a écrit :\n"
            "> Votre colis est en route.",
        ),
        (
            "Gracias.",
            "El lun, 13 may 2024 a las 10:02, Nordwind (<s@nordwind.example>) "
            "escribió:\n> Su pedido está en camino.",
        ),
        ("See below.", "-----Original Message-----\nFrom: Nordwind\nSent: Monday\n\nHi"),
        (
            "Still broken.",
            "From: Nordwind Support <s@nordwind.example>\n"
            "Sent: Monday, May 13, 2024 10:02 AM\nSubject: Ticket 7\n\nHello",
        ),
        (
            "Noch kaputt.",
            "________________________________\nVon: Nordwind <s@nordwind.example>\n"
            "Gesendet: Montag, 13. Mai 2024 10:02\n\nHallo",
        ),
    ],
)
def test_history_starts_at_its_attribution_line(new: str, history: str) -> None:
    reply = split_reply(new + "\n\n" + history)
    assert (reply.text, reply.quoted_chars, reply.signature_chars) == (
        new,
        len("\n\n" + history),
        0,
    )


@pytest.mark.parametrize(
    ("text", "new", "quoted", "signature"),
    [
        (  # interleaved answers: the quoted lines go, the answers stay
            "> you wrote this\nAnd I answer here.\n> and this\nAnd here.",
            "And I answer here.\nAnd here.",
            len("> you wrote this\n> and this\n"),
            0,
        ),
        (  # the last delimiter line starts the signature
            "Hi\n--\nAnna\n--\nAnna Smith | ACME",
            "Hi\n--\nAnna",
            0,
            len("--\nAnna Smith | ACME"),
        ),
        ("Best regards,\nAnna\n\nSent from my iPhone", None, 0, 0),  # sign-offs are words
        (">5 parcels are missing", None, 0, 0),  # not a quote: no space after ">"
        ("> only quoted text\n> nothing new", None, 0, 0),  # nothing else: kept whole
        ("--\nonly a signature", None, 0, 0),
        ("On Monday I wrote to you about it.\nNo answer yet.", None, 0, 0),
        (  # a forward is what the customer wants read
            "Begin forwarded message:\n\nFrom: Shop <s@shop.example>\nYour order shipped.",
            None,
            0,
            0,
        ),
        (
            "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <s@shop.example>"
            "\nDate: Mon, 13 May 2024 at 10:02\nSubject: Shipped\n\nYour order shipped.",
            None,
            0,
            0,
        ),
    ],
)
def test_quoted_lines_and_signatures(
    text: str, new: str | None, quoted: int, signature: int
) -> None:
    reply = split_reply(text)
    assert (reply.text, reply.quoted_chars, reply.signature_chars) == (
        new or text,
        quoted,
        signature,
    )


@pytest.mark.parametrize("subject", ["Fwd: Your order", "WG: Bestellung", "Re: FW: x", "TR: x"])
def test_a_forward_is_read_whole(subject: str) -> None:
    text = "See below.\n\nFrom: Shop <s@shop.example>\nSent: Monday\n\nYour order shipped."
    assert (split_reply(text, subject).text, split_reply(text, subject).quoted_chars) == (text, 0)
    assert accepted(with_(subject=subject, body=text)).body == text
    assert accepted(with_(subject="Re: Your order", body=text)).body == "See below."


# --- hostile inputs: results, in bounded time --------------------------------------------


def test_hostile_html_and_quotes_are_bounded() -> None:
    nested = "<html><body>" + "<div><span><b>" * 357_000  # 5 MB of open tags
    assert rejected(with_(body=nested)) == [("empty_body", "body", "body is empty.")]
    deep = "<html><p>intro</p>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000
    assert accepted(with_(body=deep)).body == "intro"  # libxml2 stops at 256 levels
    assert html_to_text("<p>" + "x" * 300_000 + "</p>") == "x" * (MAX_HTML_CHARS - 3) + "\n"
    quotes = "Hello\n" + "> quoted line\n" * 100_000 + "bye"
    t = accepted(with_(body=quotes))
    # only the first 4 x 20,000 characters are read: the new text, the quotes among them
    assert (t.body, t.body_excerpt, t.body_chars, t.quoted_chars) == (
        "Hello",
        True,
        len(quotes),
        80_000 - len("Hello\n"),
    )
    on = ("On " + " wrote:" * 50 + "x\n") * 10_000  # attribution look-alikes, no match
    assert accepted(with_(body=on)).quoted_chars == 0


# --- wire compatibility and the sandbox ---------------------------------------------------


def test_a_normalized_ticket_recorded_before_these_fields_still_parses() -> None:
    old = {
        "ticket_id": "T-1",
        "subject": "s",
        "body": "b",
        "customer_email": "a@example.com",
        "customer_name": None,
        "channel": "email",
        "customer_tier": "free",
        "language": None,
        "metadata": {},
    }
    t = NormalizedTicket.model_validate_json(json.dumps(old))
    assert (t.body_excerpt, t.body_chars, t.body_ref, t.quoted_chars, t.signature_chars) == (
        False,
        None,
        None,
        0,
        0,
    )


def test_address_checks_never_load_a_resolver() -> None:
    """email-validator's DNS checks are off: not even dnspython's resolver is imported."""
    import subprocess
    import sys

    code = (
        "import sys; from workflows.intake import warm_up, validate_ticket; warm_up(); "
        "print(sorted(m for m in sys.modules if m == 'dns' or m.startswith('dns.')))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stderr


async def test_mail_tickets_through_the_real_workflow_sandbox(env, settings):
    from activities.store import Store

    tag = uuid.uuid4().hex[:6]
    raws = [
        read("newsletter (1).eml") | {"ticket_id": f"N-{tag}"},
        read("T-2004-idn.eml") | {"ticket_id": f"I-{tag}"},
        # an HTML body and a display-name address from a client that is not ours
        with_(
            ticket_id=f"H-{tag}",
            body="<html><body><p>My parcel <b>A-1</b> is late.</p></body></html>",
            customer_email='"Müller, Jörg" <müller@bücher.de>',
            channel="E-Mail",
        ),
    ]
    store = Store(settings.store_url)
    store.create_schema()
    tickets = []
    async with running_worker(env.client, settings):
        for raw in raws:
            sub = await submit(env.client, settings, store, raw, strict_id=True)
            assert sub.error is None
            settled = await wait_settled(sub.handle, poll=0.2)
            tickets.append((await sub.handle.query(TriageWorkflow.status)).ticket)
            if isinstance(settled, RunState):
                await sub.handle.terminate("test done")
    store.close()
    newsletter, idn, html = tickets
    assert newsletter.metadata["list_unsubscribe"] == "yes"
    assert "<" not in newsletter.body
    assert (idn.customer_email, idn.customer_name, idn.language) == (
        "müller@bücher.de",
        "Müller, Jörg",
        "de",
    )
    assert (html.body, html.customer_email, html.customer_name, html.channel) == (
        "My parcel A-1 is late.",
        "müller@bücher.de",
        "Müller, Jörg",
        "email",
    )
