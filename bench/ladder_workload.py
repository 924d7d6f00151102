"""A seeded support-ticket workload for the answer-cache + model-cascade benchmark.

    python -m bench.ladder_workload                  # print the summary (seed 7, 400 + 400)
    python -m bench.ladder_workload --out DIR        # also write DIR/warmup.jsonl, heldout.jsonl

The benchmark runs the **warm-up** part (reviews answered by `scripted_decision` from the
ground truth, which fills the cache), then measures the **held-out** part. `generate` is pure
and deterministic: the same arguments give the same workload on any machine (string-seeded
`random.Random`, no hashing of sets, no clock).

Shape of the traffic:
  * head (`head_share`, 70 %): 32 recurring intents over every category ("where is my
    order", "refund not received", "reset password", ...), popularity Zipf-like (weight
    1/rank, fixed order: `HEAD`), each hand-written in 3-4 phrasings and 2-3 subjects per
    language (en/de/fr/es), perturbed deterministically: greetings and sign-offs, swapped
    sentences, extra context sentences, typos, lower-case chat style, dropped accents or
    apostrophes, "Re:" subjects, paragraphs;
  * tail (the rest): novel requests from tail topics (`TAIL`, none an intent), each topic
    in one part only: every language version of a held-out tail topic is absent from the
    warm-up, so only the head recurs across the parts; within a part a topic comes back
    with other slot values (product, city, amount ...);
  * languages by quota in each of head and tail: en 60 %, de 15 %, fr 13 %, es 12 %;
  * customers are unique over the whole workload (names, emails, order ids, amounts,
    invoice and tracking numbers, addresses, serials): held-out customers never appear
    in the warm-up, and no (subject, body) occurs twice anywhere;
  * ground-truth priority: the intent's or topic's (mostly normal; low for feedback and
    "other", high for a few), "urgent" exactly when the text says so (`URGENT_RE`; ~7 % of
    the requests that report a problem, never feedback or "other");
  * ticket fields: channel email 55 % / web 25 % / chat 19 % / phone 1 %; tier free 64 %,
    pro 33 %, vip 2 %, enterprise 1 % (phone, vip and enterprise are the only rule hits:
    routes to review or voice, never a close); a language hint on 85 % of the tickets.

Scoring helpers: `leaked` (other customers' values in a reply) and `scripted_decision`
(the scripted reviewer). `summary` counts everything the figures depend on.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from contracts.tickets import CATEGORIES, PRIORITIES, ReviewAction, ReviewDecision

LANGUAGES = ("en", "de", "fr", "es")
LANGUAGE_SHARES = {"en": 0.60, "de": 0.15, "fr": 0.13, "es": 0.12}
ZIPF_S = 1.0  # intent weight 1 / rank**s
REVIEWER = "bench-reviewer"
TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "offline" / "templates.json"

# Entity keys `leaked` looks for in a reply (dates recur between customers: not an identity).
LEAK_KEYS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "new_email",
    "order_id",
    "amount",
    "invoice_id",
    "tracking_id",
    "address",
    "serial",
)
URGENT_RE = re.compile(
    r"\b(?:urgent|urgently|urgente|urgence|urgencia|dringend|dringende|dringender|dringendes)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Item:
    ticket: dict  # a Ticket as a JSON-ready dict
    category: str  # ground truth, one of CATEGORIES
    priority: str  # ground truth, one of PRIORITIES
    language: str  # en | de | fr | es
    intent: str | None  # the recurring question's id (head); None for a novel (tail) item
    entities: dict[str, str]  # this customer's values: what a reply must not leak elsewhere


@dataclass(frozen=True)
class Workload:
    warmup: list[Item]
    heldout: list[Item]


# --- the phrasings --------------------------------------------------------------------------
# "== id | category | priority" starts an intent (or tail topic); "<lang> s: ..." is a subject,
# "<lang> b: ..." a body; an indented line continues the line before. Placeholders: customer
# values {order} {amount} {date} {invoice} {tracking} {address} {new_email} {serial} {email},
# and shared ones {product} (English) {country} {city} {version} {device} {browser} {code}.

_HEAD_TEXT = """
== where_is_order | shipping | normal
en s: Where is my order {order}?
en s: Order {order} not arrived yet
en s: Status of my order
en b: I ordered on {date} (order {order}) and haven't received anything yet. Can you tell me
    where my parcel is?
en b: My order {order} was supposed to arrive days ago. The confirmation said 3-5 working days.
    Where is it?
en b: Could you check the status of order {order}? I placed it on {date} and there is no
    shipping update.
en b: Still no sign of my order {order}. When will it be delivered?
de s: Wo bleibt meine Bestellung {order}?
de s: Bestellung noch nicht angekommen
de b: Ich habe am {date} bestellt (Bestellnummer {order}), aber bisher ist nichts angekommen.
    Können Sie nachsehen, wo mein Paket ist?
de b: Meine Bestellung {order} sollte längst da sein. Wann wird sie geliefert?
de b: Könnten Sie bitte den Status der Bestellung {order} prüfen? Seit der Bestellung am {date}
    habe ich keine Versandinfo bekommen.
fr s: Où est ma commande {order} ?
fr s: Commande toujours pas reçue
fr b: J'ai passé commande le {date} (n° {order}) et je n'ai toujours rien reçu. Pouvez-vous me
    dire où en est mon colis ?
fr b: Ma commande {order} devait arriver il y a plusieurs jours. Où est-elle ?
fr b: Pourriez-vous vérifier le statut de la commande {order} ? Je n'ai reçu aucune information
    d'expédition depuis le {date}.
es s: ¿Dónde está mi pedido {order}?
es s: Pedido sin llegar
es b: Hice el pedido el {date} (número {order}) y todavía no he recibido nada. ¿Pueden decirme
    dónde está mi paquete?
es b: Mi pedido {order} tenía que haber llegado hace días. ¿Cuándo lo recibiré?
es b: ¿Podrían revisar el estado del pedido {order}? Desde el {date} no tengo ninguna
    información del envío.

== refund_not_received | returns | normal
en s: Refund not received
en s: Still no refund for order {order}
en s: Where is my refund?
en b: I sent back order {order} on {date} and tracking shows you received it, but the refund of
    {amount} hasn't reached my account yet.
en b: It has been two weeks since my return for order {order} arrived at your warehouse. When
    will I get my {amount} back?
en b: Could you check my refund? I returned the items from order {order} and I'm still waiting
    for {amount}.
en b: My return was delivered to you on {date} but there is no refund so far. Order {order},
    amount {amount}.
de s: Erstattung nicht erhalten
de s: Rückerstattung für {order} fehlt
de b: Ich habe die Bestellung {order} am {date} zurückgeschickt, laut Sendungsverfolgung ist sie
    bei Ihnen angekommen. Die Erstattung von {amount} fehlt aber noch.
de b: Meine Retoure zu {order} ist seit zwei Wochen bei Ihnen. Wann bekomme ich die {amount}
    zurück?
de b: Bitte prüfen Sie meine Rückerstattung. Ich warte für die Bestellung {order} immer noch auf
    {amount}.
fr s: Remboursement non reçu
fr s: Toujours pas de remboursement pour {order}
fr b: J'ai renvoyé la commande {order} le {date} et le suivi indique que vous l'avez reçue, mais
    le remboursement de {amount} n'est pas arrivé.
fr b: Mon retour pour la commande {order} est chez vous depuis deux semaines. Quand vais-je
    récupérer mes {amount} ?
fr b: Pouvez-vous vérifier mon remboursement ? J'attends toujours {amount} pour la commande
    {order}.
es s: Reembolso no recibido
es s: Sigo sin reembolso del pedido {order}
es b: Devolví el pedido {order} el {date} y el seguimiento dice que lo recibieron, pero el
    reembolso de {amount} aún no ha llegado.
es b: Hace dos semanas que mi devolución del pedido {order} está en su almacén. ¿Cuándo me
    devuelven los {amount}?
es b: ¿Pueden revisar mi reembolso? Sigo esperando {amount} del pedido {order}.

== reset_password | account | normal
en s: Can't reset my password
en s: Password reset
en s: Reset link not working
en b: I forgot my password and the reset link in the email says it has expired. Can you help me
    get back into my account?
en b: Every time I click 'forgot password' I get an email, but the link opens an error page.
    How can I reset it?
en b: I need to reset my password but I never receive the reset email. I checked spam too.
en b: How do I change my password? I can't log in anymore.
de s: Passwort zurücksetzen
de s: Passwort vergessen
de b: Ich habe mein Passwort vergessen und der Link in der E-Mail ist abgelaufen. Wie komme ich
    wieder in mein Konto?
de b: Wenn ich auf 'Passwort vergessen' klicke, kommt eine E-Mail, aber der Link führt auf eine
    Fehlerseite.
de b: Ich möchte mein Passwort zurücksetzen, bekomme aber keine E-Mail dafür. Im Spam ist auch
    nichts.
fr s: Réinitialiser mon mot de passe
fr s: Mot de passe oublié
fr b: J'ai oublié mon mot de passe et le lien reçu par e-mail a expiré. Comment accéder à mon
    compte ?
fr b: Quand je clique sur « mot de passe oublié », le lien de l'e-mail ouvre une page d'erreur.
fr b: Je voudrais réinitialiser mon mot de passe mais je ne reçois jamais l'e-mail. J'ai vérifié
    les spams.
es s: Restablecer contraseña
es s: Olvidé mi contraseña
es b: Olvidé mi contraseña y el enlace del correo ha caducado. ¿Cómo puedo volver a entrar en mi
    cuenta?
es b: Cuando pulso 'olvidé mi contraseña' me llega un correo, pero el enlace da error.
es b: Quiero restablecer mi contraseña pero nunca recibo el correo. Ya miré en spam.

== double_charged | billing | high
en s: Charged twice for order {order}
en s: Double payment
en s: Two charges on my card
en b: My bank statement shows two payments of {amount} for order {order}, but I only ordered
    once. Please refund the duplicate.
en b: I was charged twice for the same order ({order}): {amount} appears two times on my card.
    Can you reverse one of them?
en b: The payment for order {order} went through twice, {amount} each time. I only want to pay
    once.
en b: Why did you take {amount} two times? Order {order}.
de s: Doppelt abgebucht
de s: Zweimal belastet für {order}
de b: Auf meinem Kontoauszug sehe ich zwei Abbuchungen über {amount} für die Bestellung {order},
    obwohl ich nur einmal bestellt habe. Bitte erstatten Sie den doppelten Betrag.
de b: Mir wurde die Bestellung {order} zweimal berechnet, jeweils {amount}. Können Sie eine
    Zahlung stornieren?
de b: Die Zahlung für {order} ist zweimal durchgegangen, {amount} pro Abbuchung.
fr s: Débité deux fois
fr s: Double prélèvement pour la commande {order}
fr b: Mon relevé bancaire montre deux paiements de {amount} pour la commande {order}, alors que
    je n'ai commandé qu'une fois. Merci de rembourser le doublon.
fr b: J'ai été débité deux fois pour la même commande ({order}) : {amount} à chaque fois.
fr b: Le paiement de la commande {order} est passé deux fois. Pouvez-vous annuler l'un des deux ?
es s: Cobro duplicado
es s: Me cobraron dos veces el pedido {order}
es b: En mi banco aparecen dos cargos de {amount} por el pedido {order}, pero solo hice un
    pedido. Por favor, devuelvan el duplicado.
es b: Me han cobrado dos veces el mismo pedido ({order}): {amount} cada vez.
es b: El pago del pedido {order} se hizo dos veces. ¿Pueden anular uno de los cargos?

== change_shipping_address | shipping | normal
en s: Change delivery address for {order}
en s: Wrong shipping address
en s: Update address on my order
en b: I just placed order {order} and noticed the old address. Could you send it to {address}
    instead?
en b: Please change the shipping address of order {order} to {address}. I think it hasn't
    shipped yet.
en b: I moved last month and forgot to update my address. The new one is {address}. Can you
    change it for order {order}?
en b: Can you ship order {order} to {address} instead of my home address? I'm at work during
    the day.
de s: Lieferadresse ändern
de s: Falsche Adresse bei Bestellung {order}
de b: Ich habe gerade die Bestellung {order} aufgegeben und die alte Adresse erwischt. Können Sie
    an {address} liefern?
de b: Bitte ändern Sie die Lieferadresse der Bestellung {order} auf {address}.
de b: Ich bin umgezogen, die neue Adresse lautet {address}. Können Sie das für Bestellung {order}
    noch anpassen?
fr s: Changer l'adresse de livraison
fr s: Mauvaise adresse pour la commande {order}
fr b: Je viens de passer la commande {order} avec mon ancienne adresse. Pouvez-vous livrer au
    {address} ?
fr b: Merci de modifier l'adresse de livraison de la commande {order} : {address}.
fr b: J'ai déménagé, ma nouvelle adresse est {address}. Est-il possible de la changer pour la
    commande {order} ?
es s: Cambiar dirección de envío
es s: Dirección equivocada en el pedido {order}
es b: Acabo de hacer el pedido {order} con mi dirección antigua. ¿Pueden enviarlo a {address}?
es b: Por favor, cambien la dirección de envío del pedido {order} a {address}.
es b: Me he mudado y la nueva dirección es {address}. ¿Se puede cambiar en el pedido {order}?

== cancel_subscription | billing | normal
en s: Cancel my subscription
en s: Stop my Pro plan
en s: Cancel membership
en b: Please cancel my Pro subscription before the next renewal on {date}. I don't want to be
    charged again.
en b: How do I cancel my plan? I can't find the option in the account settings and I don't want
    to pay {amount} again next month.
en b: I'd like to end my subscription at the end of the current period. Please confirm the
    cancellation.
en b: Please cancel my subscription, I don't use it anymore.
de s: Abo kündigen
de s: Kündigung meines Pro-Tarifs
de b: Bitte kündigen Sie mein Pro-Abo zum nächsten Verlängerungstermin am {date}.
de b: Wie kann ich mein Abo kündigen? In den Einstellungen finde ich nichts und ich möchte nicht
    noch einmal {amount} zahlen.
de b: Hiermit kündige ich mein Abonnement zum Ende der Laufzeit. Bitte bestätigen Sie die
    Kündigung.
fr s: Résilier mon abonnement
fr s: Annulation de l'abonnement Pro
fr b: Merci de résilier mon abonnement Pro avant le renouvellement du {date}.
fr b: Comment annuler mon abonnement ? Je ne trouve pas l'option et je ne veux pas payer {amount}
    de plus.
fr b: Je souhaite mettre fin à mon abonnement à la fin de la période en cours. Pouvez-vous me le
    confirmer ?
es s: Cancelar suscripción
es s: Dar de baja el plan Pro
es b: Por favor, cancelen mi suscripción Pro antes de la renovación del {date}.
es b: ¿Cómo cancelo mi plan? No encuentro la opción y no quiero pagar otra vez {amount}.
es b: Quiero terminar mi suscripción al final del periodo actual. ¿Me lo pueden confirmar?

== invoice_copy | billing | normal
en s: Invoice for order {order}
en s: Need a copy of my invoice
en s: VAT receipt please
en b: Could you send me a copy of the invoice for order {order}? I can't download it from my
    account.
en b: I need a proper VAT invoice for order {order} for my expense report. The confirmation
    email doesn't show the tax.
en b: Please resend invoice {invoice}. I deleted the email by mistake.
en b: Where can I find the invoice for my order from {date}? Order {order}.
de s: Rechnung für Bestellung {order}
de s: Rechnungskopie benötigt
de b: Könnten Sie mir bitte eine Kopie der Rechnung zur Bestellung {order} schicken? Im
    Kundenkonto kann ich sie nicht herunterladen.
de b: Für meine Spesenabrechnung brauche ich eine Rechnung mit ausgewiesener MwSt. für die
    Bestellung {order}.
de b: Bitte senden Sie mir die Rechnung {invoice} noch einmal zu, ich habe die E-Mail
    versehentlich gelöscht.
fr s: Facture de la commande {order}
fr s: Copie de facture
fr b: Pourriez-vous m'envoyer une copie de la facture de la commande {order} ? Je n'arrive pas à
    la télécharger.
fr b: J'ai besoin d'une facture avec la TVA pour la commande {order}, pour ma note de frais.
fr b: Merci de me renvoyer la facture {invoice}, j'ai supprimé l'e-mail par erreur.
es s: Factura del pedido {order}
es s: Copia de factura
es b: ¿Podrían enviarme una copia de la factura del pedido {order}? No consigo descargarla desde
    mi cuenta.
es b: Necesito una factura con IVA del pedido {order} para justificar el gasto en mi empresa.
es b: Por favor, reenvíenme la factura {invoice}; borré el correo sin querer.

== app_crash_login | technical | high
en s: App crashes on login
en s: App closes when I sign in
en s: Can't log in, the app crashes
en b: Since the update to version {version} the app crashes right after I enter my password.
    My phone: {device}.
en b: Every time I try to log in, the app closes itself. I reinstalled it twice. Phone:
    {device}.
en b: The app freezes and shuts down on the login screen. This started after yesterday's update
    ({version}).
en b: The app crashes when I press log in. {device}, latest version.
de s: App stürzt beim Login ab
de s: Absturz beim Anmelden
de b: Seit dem Update auf Version {version} stürzt die App direkt nach der Passworteingabe ab.
    Gerät: {device}.
de b: Jedes Mal, wenn ich mich anmelden will, schließt sich die App. Neu installiert habe ich
    sie schon.
de b: Die App friert beim Login-Bildschirm ein und beendet sich. Das passiert seit dem Update
    {version}.
fr s: L'application plante à la connexion
fr s: Crash au login
fr b: Depuis la mise à jour {version}, l'application plante juste après la saisie du mot de
    passe. Téléphone : {device}.
fr b: À chaque tentative de connexion, l'application se ferme toute seule. Je l'ai déjà
    réinstallée.
fr b: L'application se fige sur l'écran de connexion puis se ferme, depuis la version {version}.
es s: La app se cierra al iniciar sesión
es s: Error al entrar en la app
es b: Desde la actualización {version} la app se cierra justo después de escribir la contraseña.
    Móvil: {device}.
es b: Cada vez que intento iniciar sesión la app se cierra sola. Ya la he reinstalado.
es b: La app se queda congelada en la pantalla de inicio de sesión y luego se cierra, desde la
    versión {version}.

== tracking_not_updating | shipping | normal
en s: Tracking not updating
en s: Tracking number {tracking} doesn't work
en s: No tracking info for {order}
en b: The tracking number {tracking} for order {order} has shown 'label created' for five days.
    Has the parcel actually been sent?
en b: I got tracking number {tracking} but the carrier's website says it's unknown. Can you
    check?
en b: Tracking for my order {order} hasn't moved since {date}. Is it lost?
en b: Tracking {tracking} still says in transit since last week. Any news?
de s: Sendungsverfolgung aktualisiert sich nicht
de s: Trackingnummer {tracking} funktioniert nicht
de b: Die Sendungsnummer {tracking} zur Bestellung {order} zeigt seit fünf Tagen nur 'Label
    erstellt'. Wurde das Paket wirklich verschickt?
de b: Meine Trackingnummer {tracking} ist beim Paketdienst unbekannt. Können Sie das prüfen?
de b: Die Sendungsverfolgung für Bestellung {order} hat sich seit dem {date} nicht bewegt.
fr s: Suivi bloqué
fr s: Numéro de suivi {tracking} invalide
fr b: Le numéro de suivi {tracking} de la commande {order} indique « étiquette créée » depuis
    cinq jours. Le colis est-il vraiment parti ?
fr b: Le transporteur ne reconnaît pas le numéro de suivi {tracking}. Pouvez-vous vérifier ?
fr b: Le suivi de ma commande {order} n'a pas bougé depuis le {date}. Est-il perdu ?
es s: El seguimiento no se actualiza
es s: Número de seguimiento {tracking} no funciona
es b: El número de seguimiento {tracking} del pedido {order} lleva cinco días en 'etiqueta
    creada'. ¿De verdad se ha enviado?
es b: La web del transportista dice que el número {tracking} no existe. ¿Pueden comprobarlo?
es b: El seguimiento de mi pedido {order} no ha cambiado desde el {date}. ¿Se ha perdido?

== return_label | returns | normal
en s: Return label
en s: How do I return order {order}?
en s: Need a return label
en b: I'd like to return the {product} from order {order}. There was no return label in the
    box. Can you send me one?
en b: How do I send back items from order {order}? I can't find the return form on the website.
en b: Please email me a return label for order {order}, the jacket doesn't fit.
en b: I want to return my {product}. How does it work? Order {order}.
de s: Retourenschein
de s: Rücksendung Bestellung {order}
de b: Ich möchte einen Artikel aus der Bestellung {order} zurückschicken. Im Paket war kein
    Retourenschein. Können Sie mir einen schicken?
de b: Wie kann ich Artikel aus der Bestellung {order} zurücksenden? Ich finde das Formular
    nicht.
de b: Bitte schicken Sie mir ein Rücksendeetikett für die Bestellung {order}.
fr s: Étiquette de retour
fr s: Retour de la commande {order}
fr b: Je voudrais retourner un article de la commande {order}. Il n'y avait pas d'étiquette de
    retour dans le colis. Pouvez-vous m'en envoyer une ?
fr b: Comment renvoyer des articles de la commande {order} ? Je ne trouve pas le formulaire de
    retour.
fr b: Merci de m'envoyer une étiquette de retour pour la commande {order}.
es s: Etiqueta de devolución
es s: Devolver el pedido {order}
es b: Quiero devolver un artículo del pedido {order}. No venía etiqueta de devolución en la
    caja. ¿Me pueden enviar una?
es b: ¿Cómo devuelvo artículos del pedido {order}? No encuentro el formulario.
es b: Por favor, envíenme una etiqueta de devolución para el pedido {order}.

== damaged_item | returns | normal
en s: Item arrived damaged
en s: Broken {product}
en s: Damaged delivery, order {order}
en b: The {product} from order {order} arrived with a broken zip and a tear in the fabric. I'd
    like a replacement.
en b: My parcel was crushed and the {product} inside is damaged. What can I do? Order {order}.
en b: Unfortunately the {product} I received is defective: the seam came apart on the first
    day. Order {order}.
en b: The {product} came broken. Order {order}, photos attached.
de s: Artikel beschädigt angekommen
de s: Beschädigte Lieferung {order}
de b: Die Ware aus der Bestellung {order} ist beschädigt angekommen, der Reißverschluss ist
    kaputt. Ich hätte gern Ersatz.
de b: Das Paket war eingedrückt und der Inhalt ist beschädigt. Was kann ich tun? Bestellung
    {order}.
de b: Leider ist der Artikel defekt, die Naht ist schon am ersten Tag aufgegangen. Bestellung
    {order}.
fr s: Article arrivé endommagé
fr s: Colis abîmé, commande {order}
fr b: L'article de la commande {order} est arrivé avec la fermeture éclair cassée. Je voudrais
    un remplacement.
fr b: Le colis était écrasé et le contenu est abîmé. Que puis-je faire ? Commande {order}.
fr b: Malheureusement l'article reçu est défectueux : la couture a lâché dès le premier jour.
    Commande {order}.
es s: Artículo dañado
es s: El pedido {order} llegó roto
es b: El artículo del pedido {order} llegó con la cremallera rota. Quisiera un reemplazo.
es b: La caja llegó aplastada y el contenido está dañado. ¿Qué puedo hacer? Pedido {order}.
es b: Por desgracia el artículo es defectuoso: la costura se abrió el primer día. Pedido
    {order}.

== wrong_item | returns | normal
en s: Wrong item received
en s: Got the wrong size and colour
en s: This isn't what I ordered
en b: I ordered the {product} in blue, size M, but received a black one in XL. Order {order}.
    How do I swap it?
en b: The parcel for order {order} contained someone else's items, not what I ordered.
en b: You sent me the wrong product. I ordered the {product} and got trekking socks instead.
    Order {order}.
en b: Wrong item in my package (order {order}). Can you send the right one?
de s: Falscher Artikel geliefert
de s: Falsche Größe erhalten
de b: Ich habe Größe M in Blau bestellt, bekommen habe ich Schwarz in XL. Bestellung {order}.
    Wie kann ich tauschen?
de b: Im Paket zur Bestellung {order} waren Artikel, die ich gar nicht bestellt habe.
de b: Sie haben mir den falschen Artikel geschickt. Bestellung {order}. Bitte senden Sie mir den
    richtigen.
fr s: Mauvais article reçu
fr s: Erreur dans ma commande {order}
fr b: J'ai commandé une taille M en bleu et j'ai reçu du noir en XL. Commande {order}. Comment
    faire l'échange ?
fr b: Le colis de la commande {order} contenait des articles que je n'ai pas commandés.
fr b: Vous m'avez envoyé le mauvais produit. Commande {order}. Pouvez-vous m'envoyer le bon ?
es s: Artículo equivocado
es s: Error en mi pedido {order}
es b: Pedí la talla M en azul y me llegó en negro y talla XL. Pedido {order}. ¿Cómo lo cambio?
es b: El paquete del pedido {order} traía artículos que no pedí.
es b: Me enviaron el producto equivocado. Pedido {order}. ¿Me pueden mandar el correcto?

== payment_declined | billing | normal
en s: Payment declined
en s: Card keeps getting rejected
en s: Can't pay for my order
en b: My card keeps getting declined at checkout even though it works everywhere else. The
    total is {amount}.
en b: I tried to pay {amount} three times and each time it says 'payment failed'. My bank says
    there's no problem on their side.
en b: The payment was rejected but my bank shows a pending amount of {amount}. Will that be
    released?
en b: I can't pay, my card is declined every time. I tried two different cards.
de s: Zahlung abgelehnt
de s: Karte wird nicht akzeptiert
de b: Meine Karte wird an der Kasse immer abgelehnt, obwohl sie überall sonst funktioniert. Es
    geht um {amount}.
de b: Ich habe dreimal versucht, {amount} zu bezahlen, jedes Mal heißt es 'Zahlung
    fehlgeschlagen'.
de b: Die Zahlung wurde abgelehnt, aber meine Bank zeigt eine Vormerkung über {amount}. Wird das
    wieder freigegeben?
fr s: Paiement refusé
fr s: Ma carte est rejetée
fr b: Ma carte est refusée au moment du paiement alors qu'elle fonctionne partout ailleurs. Le
    montant est de {amount}.
fr b: J'ai essayé trois fois de payer {amount} et j'ai toujours « paiement échoué ».
fr b: Le paiement a été refusé mais ma banque affiche une réservation de {amount}. Sera-t-elle
    libérée ?
es s: Pago rechazado
es s: No puedo pagar mi pedido
es b: Mi tarjeta es rechazada al pagar aunque funciona en todas partes. El total es {amount}.
es b: He intentado pagar {amount} tres veces y siempre dice 'pago fallido'.
es b: El pago fue rechazado pero mi banco muestra una retención de {amount}. ¿Se liberará?

== account_locked | account | high
en s: Account locked
en s: Locked out of my account
en s: Too many login attempts
en b: My account got locked after a few wrong password attempts and now I can't log in at all.
    Can you unlock it?
en b: It says my account is temporarily blocked. It's been 24 hours and it's still locked.
en b: I'm locked out of my account. The message says to contact support, so here I am.
en b: My account is blocked after some wrong passwords. Please unlock it, my email is {email}.
de s: Konto gesperrt
de s: Account gesperrt nach Fehlversuchen
de b: Mein Konto wurde nach mehreren falschen Passworteingaben gesperrt. Können Sie es
    entsperren?
de b: Es heißt, mein Konto sei vorübergehend gesperrt. Nach 24 Stunden ist es immer noch
    gesperrt.
de b: Ich komme nicht mehr in mein Konto, angeblich soll ich den Support kontaktieren. Meine
    E-Mail: {email}.
fr s: Compte bloqué
fr s: Je n'ai plus accès à mon compte
fr b: Mon compte a été bloqué après plusieurs mauvais mots de passe. Pouvez-vous le débloquer ?
fr b: Le site indique que mon compte est temporairement bloqué, et c'est toujours le cas après
    24 heures.
fr b: Je suis bloqué hors de mon compte, le message dit de contacter le support. Mon adresse :
    {email}.
es s: Cuenta bloqueada
es s: No puedo acceder a mi cuenta
es b: Mi cuenta se bloqueó después de varios intentos con la contraseña equivocada. ¿Pueden
    desbloquearla?
es b: Dice que mi cuenta está bloqueada temporalmente y después de 24 horas sigue igual.
es b: No puedo entrar en mi cuenta, el mensaje dice que contacte con soporte. Mi correo es
    {email}.

== promo_code_invalid | technical | normal
en s: Promo code not working
en s: Discount code {code} error
en s: Voucher invalid
en b: When I enter the code {code} at checkout it says 'invalid code', but it's from your
    newsletter last week.
en b: The discount code {code} isn't applied to my basket. The field just turns red.
en b: Your voucher {code} shows an error on the payment page. I tried on phone and laptop.
en b: Code {code} doesn't work?
de s: Gutscheincode funktioniert nicht
de s: Rabattcode {code} ungültig
de b: Wenn ich den Code {code} eingebe, steht da 'ungültiger Code', dabei ist er aus Ihrem
    Newsletter.
de b: Der Rabattcode {code} wird im Warenkorb nicht abgezogen.
de b: Der Gutschein {code} zeigt auf der Zahlungsseite einen Fehler an.
fr s: Code promo invalide
fr s: Le code {code} ne marche pas
fr b: Quand je saisis le code {code}, le site indique « code invalide », alors qu'il vient de
    votre newsletter.
fr b: Le code de réduction {code} n'est pas appliqué à mon panier.
fr b: Le bon {code} affiche une erreur sur la page de paiement.
es s: Código promocional no válido
es s: El código {code} no funciona
es b: Al introducir el código {code} me dice 'código no válido', pero viene de su newsletter.
es b: El código de descuento {code} no se aplica a mi cesta.
es b: El cupón {code} da un error en la página de pago.

== exchange_size | returns | normal
en s: Exchange for a different size
en s: Swap size
en s: Size exchange for order {order}
en b: The {product} from order {order} is too small. Can I exchange it for one size up?
en b: I'd like to swap the size M I received for an L. Order {order}. Do I need to return it
    first?
en b: Is it possible to exchange my boots for size 43 instead of 42? Order {order}.
en b: I need a bigger size. How does an exchange work? Order {order}.
de s: Umtausch in andere Größe
de s: Größe tauschen
de b: Die Jacke aus der Bestellung {order} ist zu klein. Kann ich sie gegen eine Nummer größer
    tauschen?
de b: Ich möchte Größe M gegen L umtauschen. Bestellung {order}. Muss ich zuerst zurückschicken?
de b: Kann ich die Schuhe in 43 statt 42 bekommen? Bestellung {order}.
fr s: Échange de taille
fr s: Changer de taille
fr b: La veste de la commande {order} est trop petite. Puis-je l'échanger contre la taille
    au-dessus ?
fr b: Je voudrais échanger la taille M contre un L. Commande {order}. Dois-je d'abord la
    renvoyer ?
fr b: Est-il possible d'avoir les chaussures en 43 au lieu de 42 ? Commande {order}.
es s: Cambio de talla
es s: Cambiar por otra talla
es b: La chaqueta del pedido {order} me queda pequeña. ¿Puedo cambiarla por una talla más?
es b: Quiero cambiar la talla M por una L. Pedido {order}. ¿Tengo que devolverla primero?
es b: ¿Es posible cambiar las botas por un 43 en lugar de un 42? Pedido {order}.

== delivered_not_received | shipping | high
en s: Marked as delivered but not received
en s: Package says delivered, nothing here
en s: Parcel missing
en b: Tracking says my order {order} was delivered on {date}, but there's nothing at my door and
    my neighbours don't have it either.
en b: The carrier marked order {order} as delivered, but I never got it. I was home all day.
en b: My package ({order}) shows 'delivered' but it's not in my mailbox or at reception.
en b: It says delivered but there is no parcel. Order {order}.
de s: Als zugestellt markiert, aber nicht erhalten
de s: Paket nicht angekommen
de b: Laut Sendungsverfolgung wurde meine Bestellung {order} am {date} zugestellt, aber hier ist
    nichts angekommen, auch nicht bei den Nachbarn.
de b: Der Paketdienst hat die Bestellung {order} als zugestellt markiert, ich habe aber nichts
    bekommen.
de b: Mein Paket ({order}) steht auf 'zugestellt', ist aber weder im Briefkasten noch beim
    Nachbarn.
fr s: Colis indiqué livré mais pas reçu
fr s: Colis introuvable
fr b: Le suivi indique que la commande {order} a été livrée le {date}, mais je n'ai rien reçu et
    mes voisins non plus.
fr b: Le transporteur a marqué la commande {order} comme livrée, mais je ne l'ai jamais eue.
fr b: Mon colis ({order}) apparaît « livré » mais il n'est ni dans ma boîte aux lettres ni chez
    le gardien.
es s: Marcado como entregado pero no lo tengo
es s: Paquete no recibido
es b: El seguimiento dice que el pedido {order} se entregó el {date}, pero no he recibido nada y
    mis vecinos tampoco.
es b: El transportista marcó el pedido {order} como entregado, pero nunca me llegó.
es b: Mi paquete ({order}) aparece como 'entregado' pero no está en el buzón ni en conserjería.

== change_email | account | normal
en s: Change my email address
en s: Update login email
en s: New email for my account
en b: Can you change the login email on my account to {new_email}? I'm leaving my old job.
en b: I'd like to update the email address on my account. New address: {new_email}.
en b: Please replace my current email with {new_email}. I no longer have access to the old
    mailbox.
en b: How do I change my email? I want to use {new_email} instead.
de s: E-Mail-Adresse ändern
de s: Neue E-Mail für mein Konto
de b: Können Sie die Login-E-Mail meines Kontos auf {new_email} ändern?
de b: Ich möchte die E-Mail-Adresse in meinem Konto aktualisieren. Neue Adresse: {new_email}.
de b: Bitte ersetzen Sie meine E-Mail durch {new_email}, auf das alte Postfach habe ich keinen
    Zugriff mehr.
fr s: Changer mon adresse e-mail
fr s: Nouvelle adresse e-mail
fr b: Pouvez-vous remplacer l'e-mail de connexion de mon compte par {new_email} ?
fr b: Je voudrais mettre à jour l'adresse e-mail de mon compte. Nouvelle adresse : {new_email}.
fr b: Merci de remplacer mon e-mail par {new_email}, je n'ai plus accès à l'ancienne boîte.
es s: Cambiar mi correo electrónico
es s: Nuevo correo para mi cuenta
es b: ¿Pueden cambiar el correo de acceso de mi cuenta a {new_email}?
es b: Quiero actualizar el correo de mi cuenta. Nueva dirección: {new_email}.
es b: Por favor, sustituyan mi correo por {new_email}; ya no tengo acceso al antiguo.

== verification_email_missing | account | normal
en s: Verification email never arrived
en s: No confirmation email
en s: Can't verify my account
en b: I signed up yesterday but the verification email never arrived. I checked spam and
    promotions.
en b: I've requested the confirmation email three times and nothing comes. My address is
    {email}.
en b: I can't finish creating my account because the activation email doesn't arrive.
en b: No verification mail received, I tried twice.
de s: Bestätigungs-E-Mail kommt nicht
de s: Keine Verifizierungsmail
de b: Ich habe mich gestern registriert, aber die Bestätigungs-E-Mail kam nie an. Spam habe ich
    geprüft.
de b: Ich habe die Bestätigungsmail dreimal angefordert, es kommt nichts. Meine Adresse:
    {email}.
de b: Ich kann die Registrierung nicht abschließen, weil die Aktivierungsmail nicht ankommt.
fr s: E-mail de confirmation jamais reçu
fr s: Impossible de valider mon compte
fr b: Je me suis inscrite hier mais je n'ai jamais reçu l'e-mail de vérification. J'ai regardé
    dans les spams.
fr b: J'ai demandé l'e-mail de confirmation trois fois, rien ne vient. Mon adresse : {email}.
fr b: Je ne peux pas terminer la création de mon compte car l'e-mail d'activation n'arrive pas.
es s: No llega el correo de verificación
es s: No puedo verificar mi cuenta
es b: Me registré ayer pero el correo de verificación nunca llegó. Ya miré en spam.
es b: He pedido el correo de confirmación tres veces y no llega nada. Mi dirección es {email}.
es b: No puedo terminar de crear la cuenta porque no me llega el correo de activación.

== delete_account | account | normal
en s: Delete my account
en s: Close my account and remove my data
en s: Account deletion request
en b: Please delete my account and all personal data you hold about me.
en b: I'd like to close my account. How long does it take until my data is removed?
en b: I want my account deleted, including my order history and newsletter subscription.
en b: Please delete my account, I don't need it anymore.
de s: Konto löschen
de s: Löschung meiner Daten
de b: Bitte löschen Sie mein Konto und alle gespeicherten persönlichen Daten.
de b: Ich möchte mein Kundenkonto schließen. Wie lange dauert es, bis meine Daten entfernt sind?
de b: Hiermit beantrage ich die Löschung meines Kontos inklusive Bestellhistorie und Newsletter.
fr s: Supprimer mon compte
fr s: Demande de suppression de données
fr b: Merci de supprimer mon compte et toutes les données personnelles me concernant.
fr b: Je souhaite fermer mon compte. Combien de temps faut-il pour que mes données soient
    effacées ?
fr b: Je demande la suppression de mon compte, y compris l'historique de commandes et la
    newsletter.
es s: Eliminar mi cuenta
es s: Solicitud de borrado de datos
es b: Por favor, eliminen mi cuenta y todos mis datos personales.
es b: Quiero cerrar mi cuenta. ¿Cuánto tardan en borrar mis datos?
es b: Solicito la eliminación de mi cuenta, incluido el historial de pedidos y la newsletter.

== update_payment_method | billing | normal
en s: Update payment method
en s: Change the card on my subscription
en s: New credit card
en b: My card expires this month. How do I add a new one for my subscription?
en b: I want to switch my subscription payment from card to PayPal. Where can I change that?
en b: Please update the payment method on my account, the old card was replaced by my bank.
en b: How do I change my card details? Otherwise the renewal on {date} will fail.
de s: Zahlungsmethode ändern
de s: Neue Kreditkarte hinterlegen
de b: Meine Karte läuft diesen Monat ab. Wie hinterlege ich eine neue für mein Abo?
de b: Ich möchte die Zahlung meines Abos von Karte auf PayPal umstellen. Wo geht das?
de b: Bitte aktualisieren Sie die Zahlungsart in meinem Konto, meine Bank hat die Karte ersetzt.
fr s: Changer de moyen de paiement
fr s: Nouvelle carte bancaire
fr b: Ma carte expire ce mois-ci. Comment en ajouter une nouvelle pour mon abonnement ?
fr b: Je voudrais passer le paiement de mon abonnement de la carte à PayPal. Où le modifier ?
fr b: Merci de mettre à jour le moyen de paiement de mon compte, ma banque a remplacé ma carte.
es s: Cambiar método de pago
es s: Nueva tarjeta
es b: Mi tarjeta caduca este mes. ¿Cómo añado una nueva para la suscripción?
es b: Quiero pasar el pago de mi suscripción de tarjeta a PayPal. ¿Dónde lo cambio?
es b: Por favor, actualicen el método de pago de mi cuenta; el banco me cambió la tarjeta.

== checkout_broken | technical | normal
en s: Checkout button not working
en s: Can't complete checkout
en s: Checkout error
en b: The 'Place order' button is greyed out in {browser}. My basket total is {amount}. It
    works in another browser.
en b: At the last checkout step I get an error page ('something went wrong'). I tried three
    times.
en b: I can't finish my order: after entering the address the page just reloads and empties
    the form.
en b: Checkout is broken in {browser}, the button does nothing.
de s: Bestellbutton funktioniert nicht
de s: Fehler an der Kasse
de b: Der Button 'Jetzt bestellen' ist in {browser} ausgegraut. Warenkorb: {amount}.
de b: Im letzten Schritt der Bestellung kommt eine Fehlerseite. Ich habe es dreimal versucht.
de b: Nach Eingabe der Adresse lädt die Seite neu und das Formular ist leer.
fr s: Le bouton de commande ne marche pas
fr s: Erreur au paiement sur le site
fr b: Le bouton « Commander » est grisé sur {browser}. Mon panier fait {amount}.
fr b: À la dernière étape de la commande, j'ai une page d'erreur. J'ai essayé trois fois.
fr b: Après avoir saisi l'adresse, la page se recharge et le formulaire se vide.
es s: El botón de compra no funciona
es s: Error al finalizar la compra
es b: El botón 'Realizar pedido' está gris en {browser}. El total de la cesta es {amount}.
es b: En el último paso de la compra aparece una página de error. Lo he intentado tres veces.
es b: Después de poner la dirección la página se recarga y el formulario se vacía.

== watch_not_syncing | technical | normal
en s: Watch not syncing
en s: Trailmaster won't sync with the app
en s: Activities not uploading
en b: My Trailmaster 2 (serial {serial}) stopped syncing activities to the app after the last
    firmware update.
en b: The watch connects via Bluetooth, but the sync stays at 'pending' forever. Serial
    {serial}.
en b: None of my runs from this week show up in the app. The watch is a Trailmaster 2, {serial}.
en b: My watch won't sync since the update. Serial {serial}.
de s: Uhr synchronisiert nicht
de s: Trailmaster synchronisiert nicht mehr
de b: Meine Trailmaster 2 (Seriennummer {serial}) synchronisiert seit dem letzten
    Firmware-Update keine Aktivitäten mehr.
de b: Die Uhr verbindet sich per Bluetooth, aber die Synchronisierung hängt bei 'ausstehend'.
    Seriennummer {serial}.
de b: Keiner meiner Läufe dieser Woche erscheint in der App. Uhr: Trailmaster 2, {serial}.
fr s: La montre ne se synchronise plus
fr s: Problème de synchronisation Trailmaster
fr b: Ma Trailmaster 2 (numéro de série {serial}) ne synchronise plus mes activités depuis la
    dernière mise à jour.
fr b: La montre se connecte en Bluetooth mais la synchronisation reste « en attente ». N° de
    série {serial}.
fr b: Aucune de mes sorties de la semaine n'apparaît dans l'application. Montre Trailmaster 2,
    {serial}.
es s: El reloj no sincroniza
es s: Trailmaster no sincroniza
es b: Mi Trailmaster 2 (número de serie {serial}) no sincroniza las actividades desde la última
    actualización.
es b: El reloj se conecta por Bluetooth pero la sincronización se queda en 'pendiente'. Serie
    {serial}.
es b: Ninguna de mis carreras de esta semana aparece en la app. Reloj Trailmaster 2, {serial}.

== delivery_time | shipping | normal
en s: Delivery time to {country}
en s: How long does shipping take?
en s: Shipping to {country}
en b: How long does delivery to {country} usually take? I need the order before {date}.
en b: If I order today, when will it arrive in {country}? Do you offer express shipping?
en b: What are the delivery times and costs for shipping to {country}?
en b: How many days does it take to ship to {country}?
de s: Lieferzeit nach {country}
de s: Wie lange dauert der Versand?
de b: Wie lange dauert die Lieferung nach {country} normalerweise? Ich brauche die Sachen vor
    dem {date}.
de b: Wenn ich heute bestelle, wann ist es in {country}? Gibt es Expressversand?
de b: Welche Lieferzeiten und Versandkosten gelten für {country}?
fr s: Délai de livraison pour {country}
fr s: Combien de temps pour la livraison ?
fr b: Quel est le délai de livraison habituel pour {country} ? J'ai besoin de la commande avant
    le {date}.
fr b: Si je commande aujourd'hui avec une livraison pour {country}, quand arrivera le colis ?
    Proposez-vous l'express ?
fr b: Quels sont les délais et les frais de livraison pour {country} ?
es s: Plazo de entrega a {country}
es s: ¿Cuánto tarda el envío?
es b: ¿Cuánto suele tardar el envío a {country}? Necesito el pedido antes del {date}.
es b: Si pido hoy, ¿cuándo llegaría a {country}? ¿Tienen envío exprés?
es b: ¿Cuáles son los plazos y gastos de envío a {country}?

== missing_item | shipping | normal
en s: Item missing from my order
en s: Only part of my order arrived
en s: Package incomplete
en b: My order {order} arrived today but the {product} is missing. The packing slip lists it.
en b: I received only two of the three items in order {order}. Is the rest coming separately?
en b: One item from order {order} wasn't in the box. What should I do?
en b: The parcel is incomplete, order {order}, one thing is missing.
de s: Artikel fehlt in der Lieferung
de s: Nur Teillieferung erhalten
de b: Meine Bestellung {order} ist heute gekommen, aber ein Artikel fehlt, obwohl er auf dem
    Lieferschein steht.
de b: Ich habe nur zwei von drei Artikeln der Bestellung {order} erhalten. Kommt der Rest
    separat?
de b: Ein Artikel aus der Bestellung {order} war nicht im Paket. Was soll ich tun?
fr s: Article manquant
fr s: Commande incomplète
fr b: Ma commande {order} est arrivée aujourd'hui mais il manque un article, pourtant indiqué
    sur le bon de livraison.
fr b: Je n'ai reçu que deux des trois articles de la commande {order}. Le reste arrive-t-il
    séparément ?
fr b: Un article de la commande {order} n'était pas dans le colis. Que dois-je faire ?
es s: Falta un artículo
es s: Pedido incompleto
es b: Mi pedido {order} llegó hoy pero falta un artículo que aparece en el albarán.
es b: Solo recibí dos de los tres artículos del pedido {order}. ¿El resto llega aparte?
es b: Un artículo del pedido {order} no venía en la caja. ¿Qué hago?

== two_factor_lost | account | high
en s: Lost phone with 2FA
en s: Can't log in without my authenticator
en s: Two-factor codes lost
en b: I lost my phone and with it the authenticator app, so I can't log in. How can I disable
    two-factor authentication?
en b: I got a new phone and my 2FA codes didn't transfer. I'm stuck at the code screen.
en b: I don't have my backup codes and can't receive the two-factor code anymore. Please help me
    regain access.
en b: New phone, the 2FA app is empty and I can't log in.
de s: Handy mit 2FA verloren
de s: Zwei-Faktor-Code nicht mehr verfügbar
de b: Ich habe mein Handy mit der Authenticator-App verloren und komme nicht mehr ins Konto. Wie
    kann ich die Zwei-Faktor-Authentifizierung abschalten?
de b: Ich habe ein neues Handy und meine 2FA-Codes wurden nicht übertragen.
de b: Ich habe keine Backup-Codes und bekomme den Bestätigungscode nicht mehr.
fr s: Téléphone perdu avec la double authentification
fr s: Code 2FA perdu
fr b: J'ai perdu mon téléphone avec l'application d'authentification et je ne peux plus me
    connecter. Comment désactiver la double authentification ?
fr b: J'ai un nouveau téléphone et mes codes 2FA n'ont pas été transférés.
fr b: Je n'ai pas mes codes de secours et je ne reçois plus le code de vérification.
es s: Perdí el móvil con la verificación en dos pasos
es s: Sin acceso al código 2FA
es b: Perdí el móvil con la app de autenticación y no puedo entrar. ¿Cómo desactivo la
    verificación en dos pasos?
es b: Tengo un móvil nuevo y los códigos 2FA no se han pasado.
es b: No tengo los códigos de respaldo y ya no recibo el código de verificación.

== notifications_stopped | technical | normal
en s: Notifications stopped working
en s: No push notifications
en s: The app doesn't notify me
en b: Since the update to {version} I no longer get any push notifications from the app,
    although they're enabled in the settings.
en b: I don't receive delivery notifications anymore on my {device}.
en b: Push notifications stopped a week ago. I reinstalled the app and checked permissions.
en b: No notifications anymore since the update.
de s: Keine Benachrichtigungen mehr
de s: Push-Mitteilungen funktionieren nicht
de b: Seit dem Update auf {version} bekomme ich keine Push-Benachrichtigungen mehr, obwohl sie
    aktiviert sind.
de b: Auf meinem {device} kommen keine Versandbenachrichtigungen mehr an.
de b: Die Benachrichtigungen haben vor einer Woche aufgehört. App neu installiert, Berechtigungen
    geprüft.
fr s: Plus de notifications
fr s: Les notifications ne fonctionnent plus
fr b: Depuis la mise à jour {version}, je ne reçois plus aucune notification, alors qu'elles
    sont activées.
fr b: Je ne reçois plus les notifications de livraison sur mon {device}.
fr b: Les notifications se sont arrêtées il y a une semaine. J'ai réinstallé l'application.
es s: No llegan notificaciones
es s: Las notificaciones dejaron de funcionar
es b: Desde la actualización {version} no recibo notificaciones, aunque están activadas.
es b: Ya no me llegan los avisos de entrega en mi {device}.
es b: Las notificaciones dejaron de llegar hace una semana. Reinstalé la app.

== praise_support | feedback | low
en s: Thank you to your support team
en s: Great service
en s: Compliments for your team
en b: I just wanted to say your support team was super helpful last week when my order got
    mixed up. Please pass on my thanks!
en b: Really impressed with how quickly you replaced my jacket. Great customer service.
en b: A shout-out to the agent who helped me on the phone yesterday. Very friendly and patient.
en b: Love your shop and your service, keep it up.
de s: Lob für den Kundenservice
de s: Danke an Ihr Team
de b: Ich wollte nur sagen, dass Ihr Kundenservice letzte Woche super hilfsbereit war. Bitte
    richten Sie meinen Dank aus!
de b: Ich bin begeistert, wie schnell Sie meine Jacke ersetzt haben. Toller Service.
de b: Ein großes Lob an die Mitarbeiterin am Telefon gestern, sehr freundlich und geduldig.
fr s: Merci à votre service client
fr s: Bravo pour le service
fr b: Je voulais simplement dire que votre service client a été très efficace la semaine
    dernière. Transmettez mes remerciements !
fr b: Très impressionnée par la rapidité du remplacement de ma veste. Excellent service.
fr b: Un grand bravo au conseiller qui m'a aidé hier au téléphone, très aimable et patient.
es s: Gracias a su equipo de atención
es s: Excelente servicio
es b: Solo quería decir que su equipo de atención fue muy amable la semana pasada. ¡Transmitan
    mi agradecimiento!
es b: Me impresionó lo rápido que cambiaron mi chaqueta. Un servicio excelente.
es b: Felicidades a la persona que me atendió ayer por teléfono, muy amable y paciente.

== feature_dark_mode | feedback | low
en s: Feature request: dark mode
en s: Please add a dark mode
en s: Dark theme for the app?
en b: I love the app, but it would be great to have a dark mode, especially in the evening.
en b: Any plans for a dark theme? The white screen is very bright at night on the trail.
en b: Suggestion: please add a dark mode to the app and the website.
en b: Dark mode please!
de s: Wunsch: Dark Mode
de s: Dunkelmodus für die App
de b: Ich mag die App sehr, aber ein Dunkelmodus wäre toll, vor allem abends.
de b: Ist ein dunkles Design geplant? Der weiße Bildschirm ist nachts sehr hell.
de b: Vorschlag: Bitte bauen Sie einen Dark Mode in App und Website ein.
fr s: Suggestion : mode sombre
fr s: Un thème sombre pour l'application ?
fr b: J'adore l'application, mais ce serait génial d'avoir un mode sombre, surtout le soir.
fr b: Un thème sombre est-il prévu ? L'écran blanc éblouit la nuit.
fr b: Suggestion : ajoutez un mode sombre à l'application et au site.
es s: Sugerencia: modo oscuro
es s: ¿Modo oscuro para la app?
es b: Me encanta la app, pero sería genial tener un modo oscuro, sobre todo por la noche.
es b: ¿Tienen previsto un tema oscuro? La pantalla blanca deslumbra de noche.
es b: Sugerencia: añadan un modo oscuro a la app y a la web.

== packaging_complaint | feedback | low
en s: Too much packaging
en s: So much plastic
en s: Packaging waste
en b: I ordered one pair of socks and it came in a huge box with plastic bags and air pillows.
    For an outdoor brand that's disappointing.
en b: Please use less plastic in your parcels. My last order had three layers of wrapping.
en b: The box was five times bigger than the {product} inside. Not very sustainable.
en b: Way too much plastic in my package.
de s: Zu viel Verpackung
de s: Plastikmüll im Paket
de b: Ich habe ein Paar Socken bestellt und bekam einen riesigen Karton mit Plastiktüten und
    Luftpolstern. Für eine Outdoor-Marke enttäuschend.
de b: Bitte verwenden Sie weniger Plastik in Ihren Paketen.
de b: Der Karton war fünfmal so groß wie der Inhalt. Nicht gerade nachhaltig.
fr s: Trop d'emballage
fr s: Beaucoup trop de plastique
fr b: J'ai commandé une paire de chaussettes et j'ai reçu un énorme carton avec des sachets
    plastiques. Décevant pour une marque outdoor.
fr b: Merci d'utiliser moins de plastique dans vos colis.
fr b: Le carton était cinq fois plus grand que le contenu. Pas très écologique.
es s: Demasiado embalaje
es s: Mucho plástico en el paquete
es b: Pedí un par de calcetines y llegó una caja enorme con bolsas de plástico. Decepcionante
    para una marca de montaña.
es b: Por favor, usen menos plástico en sus envíos.
es b: La caja era cinco veces más grande que el contenido. Poco sostenible.

== store_hours | other | low
en s: Store in {city}?
en s: Opening hours
en s: Do you have a shop in {city}?
en b: Do you have a physical store in {city} where I can try on boots? What are the opening
    hours on Saturdays?
en b: What time does your {city} store open on Sundays?
en b: Is there a shop in {city} where I can see the tents before buying?
en b: What are the opening hours of the {city} store?
de s: Filiale in {city}?
de s: Öffnungszeiten
de b: Haben Sie ein Geschäft in {city}, wo ich Wanderschuhe anprobieren kann? Wie sind die
    Öffnungszeiten am Samstag?
de b: Wann öffnet Ihre Filiale in {city} sonntags?
de b: Gibt es in {city} einen Laden, in dem ich mir Zelte ansehen kann?
fr s: Magasin à {city} ?
fr s: Horaires d'ouverture
fr b: Avez-vous un magasin à {city} où je peux essayer des chaussures ? Quels sont les horaires
    le samedi ?
fr b: À quelle heure ouvre votre magasin de {city} le dimanche ?
fr b: Y a-t-il une boutique à {city} où voir les tentes avant d'acheter ?
es s: ¿Tienda en {city}?
es s: Horario de apertura
es b: ¿Tienen tienda física en {city} donde probarme botas? ¿Cuál es el horario los sábados?
es b: ¿A qué hora abre su tienda de {city} los domingos?
es b: ¿Hay alguna tienda en {city} donde ver las tiendas de campaña antes de comprar?

== wholesale_inquiry | other | low
en s: Wholesale inquiry
en s: Reselling your products
en s: B2B prices
en b: I run a small outdoor shop and would like to stock your merino beanies. Do you sell
    wholesale, and what are the minimum quantities?
en b: We are a hiking club and want to order 30 jackets with our logo. Do you offer trade
    prices?
en b: Could you send me your B2B price list? We'd like to resell your backpacks in our store.
en b: Do you do wholesale? I have a small shop.
de s: Anfrage Großhandel
de s: Wiederverkauf Ihrer Produkte
de b: Ich betreibe einen kleinen Outdoor-Laden und würde gern Ihre Merino-Mützen verkaufen.
    Bieten Sie Großhandelspreise an?
de b: Wir sind ein Wanderverein und möchten 30 Jacken mit Logo bestellen. Gibt es
    Händlerkonditionen?
de b: Könnten Sie mir Ihre B2B-Preisliste schicken?
fr s: Demande grossiste
fr s: Revendre vos produits
fr b: Je tiens une petite boutique outdoor et j'aimerais vendre vos bonnets en mérinos.
    Vendez-vous en gros ?
fr b: Nous sommes un club de randonnée et voulons commander 30 vestes avec notre logo.
    Avez-vous des tarifs professionnels ?
fr b: Pourriez-vous m'envoyer votre grille tarifaire B2B ?
es s: Consulta mayorista
es s: Revender sus productos
es b: Tengo una pequeña tienda de montaña y me gustaría vender sus gorros de merino. ¿Venden al
    por mayor?
es b: Somos un club de senderismo y queremos pedir 30 chaquetas con nuestro logo. ¿Tienen
    precios para empresas?
es b: ¿Podrían enviarme su lista de precios B2B?
"""

# Tail topics: one subject and body per language a topic has; none repeats an intent.
_TAIL_TEXT = """
== t.bank_transfer | billing | normal
en s: Bank transfer for a club order
en b: Our hiking club wants to place an order of about {amount}. Can we pay by bank transfer
    instead of card?
de s: Zahlung per Überweisung
de b: Unser Verein möchte für etwa {amount} bestellen. Können wir per Überweisung zahlen?
fr s: Paiement par virement
fr b: Notre club souhaite passer une commande d'environ {amount}. Peut-on payer par virement ?
es s: Pago por transferencia
es b: Nuestro club quiere hacer un pedido de unos {amount}. ¿Podemos pagar por transferencia?

== t.price_drop | billing | normal
en s: Price dropped after I bought
en b: I bought the {product} on {date} for {amount} and now it's on sale for less. Do you offer
    a price adjustment?
de s: Preis nach dem Kauf gesunken
de b: Ich habe am {date} für {amount} gekauft, jetzt ist der Artikel günstiger. Gibt es eine
    Preisanpassung?
es s: Bajada de precio tras la compra
es b: Compré el {date} por {amount} y ahora está más barato. ¿Hacen ajuste de precio?

== t.invoice_currency | billing | normal
en s: Invoice in another currency
en b: My invoice {invoice} is in euros, but my company needs it in Swiss francs. Is that
    possible?

== t.school_vat | billing | normal
en s: Tax-exempt school purchase
en b: We're a public school buying equipment for a field trip. How do we order without VAT?

== t.gift_card_split | billing | normal
en s: Gift card plus card payment
en b: Can I use a gift card and pay the rest ({amount}) by credit card on the same order?

== t.paypal_unpaid | billing | normal
en s: Paid with PayPal but order shows unpaid
en b: I paid {amount} via PayPal for order {order}, but my account still shows the order as
    unpaid.

== t.instalments | billing | normal
en s: Pay in instalments?
en b: Do you offer payment in instalments for the {product}? It's a bit expensive to pay at
    once.
fr s: Paiement en plusieurs fois
fr b: Proposez-vous le paiement en plusieurs fois pour une tente à {amount} ?

== t.receipt_address | billing | normal
en s: Old billing address on my receipt
en b: The receipt for order {order} shows my old billing address. Can you reissue it with the
    new one, {address}?

== t.size_guide_blank | technical | normal
en s: Size guide page is blank
en b: The size guide for the {product} just shows a blank page on my tablet.
de s: Größentabelle lädt nicht
de b: Die Größentabelle auf Ihrer Website bleibt auf meinem Tablet leer.
fr s: Guide des tailles vide
fr b: Le guide des tailles reste vide sur ma tablette.
es s: La guía de tallas sale en blanco
es b: La guía de tallas aparece en blanco en mi tableta.

== t.wishlist_empty | technical | normal
en s: Wishlist keeps emptying
en b: Every time I log out, my wishlist is empty again. I had eight items saved, including the
    {product}.

== t.altimeter | technical | normal
en s: Elevation wrong on the watch
en b: My watch shows an elevation of 1,200 m at sea level. Is there a way to calibrate the
    altimeter?
de s: Höhenmesser zeigt falsch an
de b: Meine Uhr zeigt auf Meereshöhe 1.200 m an. Wie kalibriere ich den Höhenmesser?
es s: El altímetro marca mal
es b: Mi reloj marca 1.200 m de altitud al nivel del mar. ¿Cómo calibro el altímetro?

== t.site_language | technical | normal
en s: Website keeps switching language
en b: Your website keeps switching to German even though I choose English every time.
fr s: Le site passe en allemand
fr b: Votre site repasse en allemand alors que je choisis le français à chaque fois.

== t.gpx_export | technical | normal
en s: GPX export fails
en b: When I export a route as GPX in the app, the file is empty. I tried three different
    routes.
fr s: Export GPX vide
fr b: Quand j'exporte un itinéraire en GPX depuis l'application, le fichier est vide.

== t.images_missing | technical | normal
en s: Product images don't load
en b: Product images don't load in the app on my {device}; I only see grey boxes.
es s: Las imágenes no cargan
es b: En la app no cargan las fotos de los productos en mi {device}, solo veo recuadros grises.

== t.heart_rate | technical | normal
en s: Heart rate readings jump
en b: The heart rate on my watch jumps to 190 when I'm just walking. Is the sensor faulty or is
    it a setting?

== t.apple_sign_in | technical | normal
en s: Sign in with Apple does nothing
en b: The 'Sign in with Apple' button on your website does nothing when I click it, in
    {browser} at least.

== t.search_empty | technical | normal
en s: Search gives no results
en b: Searching for the {product} on your site returns no results, although I can find it
    through the menu.

== t.offline_map | technical | normal
en s: Offline map tiles missing
en b: I downloaded the offline map for my trek, but in flight mode half of the tiles are
    missing.
de s: Offline-Karte unvollständig
de b: Ich habe die Offline-Karte heruntergeladen, aber im Flugmodus fehlt die Hälfte der
    Kacheln.

== t.merge_accounts | account | normal
en s: Merge two accounts
en b: I accidentally created two accounts with different emails. Can you merge my order
    histories?
de s: Zwei Konten zusammenführen
de b: Ich habe versehentlich zwei Konten angelegt. Können Sie die Bestellhistorien
    zusammenlegen?
fr s: Fusionner deux comptes
fr b: J'ai créé deux comptes par erreur. Pouvez-vous regrouper mes commandes ?

== t.name_change | account | normal
en s: Name change after marriage
en b: I got married and my last name has changed. How can I update the name on my account?
de s: Namensänderung nach Heirat
de b: Ich habe geheiratet und heiße jetzt anders. Wie ändere ich den Namen im Konto?
es s: Cambio de apellido
es b: Me he casado y ha cambiado mi apellido. ¿Cómo lo actualizo en mi cuenta?

== t.newsletter_settings | account | normal
en s: Newsletter settings won't save
en b: I unticked all newsletter topics in my profile, but after saving they are all ticked
    again.

== t.family_membership | account | normal
en s: Family membership
en b: Can I add my partner to my membership so we both get the member discount?

== t.data_export | account | normal
en s: Export my personal data
en b: Please send me a copy of all personal data you store about me.
es s: Exportar mis datos
es b: Por favor, envíenme una copia de todos los datos personales que guardan sobre mí.

== t.loyalty_points | account | normal
en s: Loyalty points missing
en b: The points for my order {order} were never added to my account. It was about {amount}.
fr s: Points fidélité manquants
fr b: Les points de ma commande {order} n'ont jamais été crédités sur mon compte.

== t.business_account | account | normal
en s: Switch to a business account
en b: How do I turn my personal account into a business account so invoices show our company
    name?

== t.parcel_locker | shipping | normal
en s: Deliver to a parcel locker?
en b: Can you deliver to a parcel locker? I'm rarely at home during the day.
de s: Lieferung an die Packstation
de b: Liefern Sie auch an eine Packstation? Tagsüber bin ich selten zu Hause.
fr s: Livraison en point relais
fr b: Pouvez-vous livrer en point relais ? Je suis rarement chez moi en journée.
es s: Envío a un punto de recogida
es b: ¿Pueden enviar a un punto de recogida? Casi nunca estoy en casa.

== t.customs_fees | shipping | normal
en s: Customs fees to {country}
en b: Will I have to pay customs or import fees if I order to {country}?
de s: Zoll bei Lieferung in die Schweiz
de b: Fallen Zollgebühren an, wenn ich in die Schweiz bestelle?
fr s: Frais de douane pour la Suisse
fr b: Y aura-t-il des frais de douane si je commande vers la Suisse ?
es s: Aduanas para Canarias
es b: ¿Tendré que pagar aduanas si pido con entrega en Canarias?

== t.hotel_delivery | shipping | normal
en s: Ship to my hotel
en b: I'm travelling and would like my order sent to my hotel in {city}. Is that possible and
    whose name should be on the parcel?

== t.combine_orders | shipping | normal
en s: Combine two orders
en b: I placed two orders today ({order} and another one). Can you ship them together to save
    packaging?

== t.saturday_delivery | shipping | normal
en s: Saturday delivery?
en b: Is Saturday delivery available? I'd like the {product} before the weekend trip.

== t.courier_notice | shipping | normal
en s: Courier left a notice
en b: The courier left a notice but no pickup point is named on it. Where can I collect my
    parcel?

== t.gift_shipping | shipping | normal
en s: Ship a gift directly
en b: Can I send an order directly to a friend with a gift message and no prices on the slip?

== t.gift_return | returns | normal
en s: Return a gift without receipt
en b: I got the {product} as a gift but it doesn't suit me. Can I return it without the
    receipt?
de s: Geschenk ohne Beleg zurückgeben
de b: Ich habe eine Jacke geschenkt bekommen, die nicht passt. Kann ich sie ohne Kassenbon
    zurückgeben?
fr s: Retour d'un cadeau sans ticket
fr b: On m'a offert une veste qui ne me va pas. Puis-je la retourner sans ticket de caisse ?
es s: Devolver un regalo sin ticket
es b: Me regalaron una chaqueta que no me queda bien. ¿Puedo devolverla sin ticket?

== t.tent_pole_warranty | returns | normal
en s: Warranty for a tent pole
en b: One pole of my tent snapped after a year of use. Is that covered by the warranty?
de s: Garantie für eine Zeltstange
de b: Eine Stange meines Zelts ist nach einem Jahr gebrochen. Ist das ein Garantiefall?
es s: Garantía de una varilla
es b: Se rompió una varilla de la tienda de campaña después de un año. ¿Lo cubre la garantía?

== t.holiday_returns | returns | normal
en s: Return window over the holidays
en b: If I buy presents now, can they still be returned in January?

== t.bundle_partial_return | returns | normal
en s: Return part of a bundle
en b: I bought the camping bundle but only need the stove and the pans. Can I return the
    sleeping mat alone?

== t.zip_repair | returns | normal
en s: Zip repair service
en b: Do you offer a repair service for zips? My jacket is otherwise in good shape.
fr s: Réparation de fermeture éclair
fr b: Proposez-vous un service de réparation pour les fermetures éclair ? Ma veste est encore
    en bon état.

== t.worn_once | returns | normal
en s: Worn once, can I return it?
en b: I wore the {product} once on a short walk and it rubs. Can I still send it back?

== t.return_from_abroad | returns | normal
en s: Return from abroad
en b: I live in {country} now. How do I return an item from my last order {order}?

== t.womens_sizes | feedback | low
en s: More women's sizes please
en b: Please offer the {product} in more women's sizes. XS is always sold out.
fr s: Plus de tailles pour femmes
fr b: Merci de proposer plus de tailles pour femmes, le XS est toujours épuisé.

== t.too_many_emails | feedback | low
en s: Too many emails
en b: I get three marketing emails a day from you. That's too much, please send fewer.
de s: Zu viele Newsletter
de b: Ich bekomme täglich mehrere Werbemails von Ihnen. Das ist zu viel.
es s: Demasiados correos
es b: Recibo varios correos publicitarios al día. Es demasiado.

== t.store_visit | feedback | low
en s: Great visit in your {city} store
en b: I visited your {city} store last weekend and the staff gave me excellent advice on boots.
es s: Buena atención en la tienda de {city}
es b: Estuve en su tienda de {city} y me asesoraron muy bien con las botas.

== t.app_redesign | feedback | normal
en s: The new app design is confusing
en b: The redesigned app is confusing; I can't find my order history anymore without searching.
fr s: Nouvelle appli déroutante
fr b: La nouvelle version de l'application est déroutante, je ne trouve plus l'historique de
    mes commandes.

== t.rental_idea | feedback | low
en s: Idea: a rental service
en b: Have you thought about renting out tents and backpacks? I would use it for one-off trips.

== t.brighter_colours | feedback | low
en s: Colours of the new collection
en b: The new collection has only grey and black. Some brighter colours would be nice for
    visibility on the trail.
de s: Mehr Farben bitte
de b: Die neue Kollektion gibt es nur in Grau und Schwarz. Kräftigere Farben wären schön.

== t.phone_field | feedback | low
en s: Phone number at checkout
en b: Your checkout asks for my phone number every time. I'd prefer if that were optional.

== t.sponsorship | other | low
en s: Sponsorship for a trail race
en b: We organise a charity trail race in {city} and are looking for sponsors. Would you be
    interested?
de s: Sponsoring für einen Traillauf
de b: Wir organisieren einen Benefiz-Traillauf in {city} und suchen Sponsoren. Hätten Sie
    Interesse?
es s: Patrocinio de una carrera
es b: Organizamos una carrera solidaria en {city} y buscamos patrocinadores. ¿Les interesaría?

== t.job_application | other | low
en s: Job application
en b: I'd like to apply for a job in your {city} store. Where can I send my CV?
fr s: Candidature spontanée
fr b: Je souhaite postuler dans votre magasin de {city}. À qui envoyer mon CV ?

== t.press | other | low
en s: Press inquiry
en b: I'm a journalist writing about sustainable outdoor brands. Could I interview someone from
    your team?
fr s: Demande de presse
fr b: Je suis journaliste et j'écris sur les marques outdoor durables. Puis-je interviewer
    quelqu'un de votre équipe ?

== t.internship | other | low
en s: Internship
en b: I'm a student looking for an internship in e-commerce. Do you take interns?
de s: Praktikum
de b: Ich studiere und suche ein Praktikum im E-Commerce. Bieten Sie Praktika an?
es s: Prácticas
es b: Soy estudiante y busco prácticas en comercio electrónico. ¿Aceptan becarios?

== t.photo_permission | other | low
en s: Using your photos on my blog
en b: May I use photos from your website in my hiking blog if I credit you?

== t.recycling | other | low
en s: Recycling programme
en b: Do you take back old jackets for recycling? I have a few worn-out ones.
de s: Recycling alter Jacken
de b: Nehmen Sie alte Jacken zum Recycling zurück? Ich habe ein paar abgetragene.
es s: Programa de reciclaje
es b: ¿Recogen chaquetas viejas para reciclarlas? Tengo varias muy gastadas.

== t.scout_group | other | low
en s: Scout group equipment
en b: Our scout group needs 20 sleeping bags. Do you have special prices for youth
    organisations?

== t.company_history | other | low
en s: Question about your company
en b: For a school project my daughter wants to know when and where your company was founded.

== t.supplier_offer | other | low
en s: Recycled packaging supplier
en b: We produce recycled packaging and would like to present our products to your purchasing
    team.

== t.store_workshops | other | low
en s: Workshops in your {city} store?
en b: Do you host talks or workshops in your {city} store? I'd like to attend one.
fr s: Ateliers en magasin
fr b: Organisez-vous des ateliers dans votre magasin de {city} ?
"""


@dataclass(frozen=True)
class Phrasing:
    """An intent (head) or a tail topic: its truth and its hand-written texts by language."""

    id: str
    category: str
    priority: str
    subjects: dict[str, tuple[str, ...]]
    bodies: dict[str, tuple[str, ...]]


def _parse(text: str) -> tuple[Phrasing, ...]:
    blocks: list[tuple[str, str, str, dict[str, list[str]], dict[str, list[str]]]] = []
    last: list[str] | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw[0].isspace():
            assert last is not None, raw
            last[-1] += " " + raw.strip()
            continue
        if raw.startswith("== "):
            ident, category, priority = (part.strip() for part in raw[3:].split("|"))
            blocks.append((ident, category, priority, {}, {}))
            continue
        head, _, value = raw.partition(": ")
        lang, kind = head.split()
        _, _, _, subjects, bodies = blocks[-1]
        last = (subjects if kind == "s" else bodies).setdefault(lang, [])
        last.append(value.strip())
    return tuple(
        Phrasing(
            ident,
            category,
            priority,
            {lang: tuple(v) for lang, v in subjects.items()},
            {lang: tuple(v) for lang, v in bodies.items()},
        )
        for ident, category, priority, subjects, bodies in blocks
    )


HEAD = _parse(_HEAD_TEXT)  # popularity order: rank 1 first
TAIL = _parse(_TAIL_TEXT)

# --- perturbations and customer values ------------------------------------------------------

GREETINGS = {
    "en": ["Hi,", "Hello,", "Hi there,", "Hello team,", "Good morning,", "Dear support team,"],
    "de": ["Hallo,", "Guten Tag,", "Hallo zusammen,", "Sehr geehrte Damen und Herren,", "Moin,"],
    "fr": ["Bonjour,", "Bonsoir,", "Bonjour Madame, Monsieur,", "Bonjour à l'équipe,"],
    "es": ["Hola,", "Buenos días,", "Buenas tardes,", "Estimado equipo,", "Hola, buenas,"],
}
SIGN_OFFS = {
    "en": [
        "Thanks,\n{first}",
        "Best regards,\n{full}",
        "Cheers\n{first}",
        "Kind regards\n{full}",
        "-- \n{first}",
        "Thank you!\n{full}\n\nSent from my iPhone",
        "Many thanks,\n{full}",
    ],
    "de": [
        "Viele Grüße\n{first}",
        "Mit freundlichen Grüßen\n{full}",
        "LG {first}",
        "Danke und Gruß\n{full}",
        "Beste Grüße,\n{full}",
    ],
    "fr": [
        "Cordialement,\n{full}",
        "Merci d'avance,\n{first}",
        "Bonne journée,\n{first}",
        "Bien à vous,\n{full}",
    ],
    "es": ["Saludos,\n{full}", "Un saludo,\n{first}", "Gracias,\n{first}", "Atentamente,\n{full}"],
}
# Extra context sentences: neutral ones for every request, more for a problem (not for
# feedback or "other"), and a gift remark only where an order went wrong.
CONTEXT = {
    "en": [
        "I'm writing from my phone, sorry for any typos.",
        "I already checked the FAQ.",
        "I tried calling but couldn't get through.",
        "Let me know if you need anything else from me.",
        "I would appreciate a quick answer.",
        "I've been a customer for a few years now.",
    ],
    "de": [
        "Ich schreibe vom Handy, sorry für Tippfehler.",
        "Die FAQ habe ich schon gelesen.",
        "Telefonisch habe ich leider niemanden erreicht.",
        "Sagen Sie Bescheid, wenn Sie noch etwas von mir brauchen.",
        "Ich bin schon seit Jahren Kundin bei Ihnen.",
    ],
    "fr": [
        "J'écris depuis mon téléphone, désolé pour les fautes.",
        "J'ai déjà consulté la FAQ.",
        "Je n'ai pas réussi à vous joindre par téléphone.",
        "Je suis cliente depuis plusieurs années.",
    ],
    "es": [
        "Escribo desde el móvil, perdón por las erratas.",
        "Ya he mirado las preguntas frecuentes.",
        "No he conseguido contactar por teléfono.",
        "Soy cliente desde hace años.",
    ],
}
PROBLEM_CONTEXT = {
    "en": [
        "This is the first time I've had a problem with you.",
        "I'm travelling next week.",
        "My partner has ordered from you before without any issue.",
    ],
    "de": ["Das ist das erste Mal, dass es Probleme gibt.", "Ich bin nächste Woche verreist."],
    "fr": ["C'est la première fois que j'ai un souci.", "Je pars en voyage la semaine prochaine."],
    "es": ["Es la primera vez que tengo un problema.", "La semana que viene estoy de viaje."],
}
GIFT_CONTEXT = {
    "en": ["It was meant as a birthday present."],
    "de": ["Es war als Geschenk gedacht."],
    "fr": ["C'était un cadeau d'anniversaire."],
    "es": ["Era un regalo de cumpleaños."],
}
URGENT_SENTENCES = {
    "en": [
        "This is urgent, please get back to me today.",
        "Please treat this as urgent.",
        "It's urgent, I leave on a trip in two days.",
        "URGENT, I need an answer today.",
    ],
    "de": [
        "Es ist dringend, bitte melden Sie sich heute noch.",
        "Bitte dringend bearbeiten!",
        "Das ist leider dringend.",
    ],
    "fr": [
        "C'est urgent, merci de me répondre aujourd'hui.",
        "Demande urgente, merci.",
        "C'est assez urgent pour moi.",
    ],
    "es": [
        "Es urgente, por favor respondan hoy.",
        "¡Urgente, por favor!",
        "Necesito una respuesta urgente.",
    ],
}
URGENT_PREFIX = {"en": "URGENT: ", "de": "Dringend: ", "fr": "URGENT : ", "es": "URGENTE: "}
REPLY_PREFIX = {"en": "Re: ", "de": "AW: ", "fr": "RE : ", "es": "RE: "}

FIRST_NAMES = {
    "en": (
        "Olivia Liam Emma Noah Ava Ethan Sophie Oliver Chloe Daniel Hannah Lucas Megan Ryan "
        "Priya Kevin Aisha Owen Zoe Connor Maya Tyler Leah Aaron Nadia Samuel Fiona Declan "
        "Imogen Marcus Yuki Tariq Bethany Callum Erin Jasmine"
    ).split(),
    "de": (
        "Jonas Sabine Stefan Tim Lena Lukas Anna Felix Julia Moritz Katrin Miriam Tobias Nina "
        "Florian Carina Henrik Ute Matthias Svenja Dominik Greta Kerstin Jannik"
    ).split(),
    "fr": (
        "Élodie Camille Julien Manon Théo Léa Antoine Chloé Mathieu Inès Baptiste Margaux "
        "Quentin Océane Romain Juliette Nicolas Anaïs Damien Solène Aurélie Sébastien Lucile "
        "Thibault"
    ).split(),
    "es": (
        "Lucía Pablo Javier Carmen Alejandro Marta Diego Elena Sergio Paula Álvaro Irene Raúl "
        "Nuria Andrés Beatriz Iván Silvia Jorge Rocío Adrián Natalia Gonzalo Ainhoa"
    ).split(),
}
LAST_NAMES = {
    "en": (
        "Brooks Hughes Walsh Kowalski Nair Oduya Rahman Fletcher Gallagher Henderson Jenkins "
        "Lawson McCarthy Nolan Patel Quinn Reynolds Sullivan Thornton Underwood Vaughan "
        "Whitaker Yates Ashford Bennett Carver Donnelly Ellison Fairbanks Garrett Hollis "
        "Ingram Kerr Lindqvist Mendoza Okafor"
    ).split(),
    "de": (
        "Kessler Brandt Schröder Müller Schmidt Wagner Hoffmann Schulz Zimmermann Krüger "
        "Hartmann Werner Lehmann Köhler Neumann Huber Maier Berger Seidel Pohl Ziegler Franke "
        "Brenner Albrecht"
    ).split(),
    "fr": (
        "Moreau Lambert Dubois Leroy Lefebvre Girard Bonnet Fontaine Rousseau Mercier Gauthier "
        "Perrin Morel Fournier Garnier Faure Roussel Blanchard Guérin Barbier Lemoine Caron "
        "Dumont Chevallier"
    ).split(),
    "es": (
        "Fernández Medina García López Martínez Sánchez Romero Navarro Torres Domínguez "
        "Vázquez Ramos Serrano Molina Ortega Delgado Castro Ortiz Rubio Marín Iglesias Núñez "
        "Herrera Cabrera"
    ).split(),
}
EMAIL_DOMAINS = {
    "en": ("example.com", "example.org", "example.net", "example.co.uk", "example.ie"),
    "de": ("example.de", "example.at", "example.ch", "example.com"),
    "fr": ("example.fr", "example.be", "example.com"),
    "es": ("example.es", "example.mx", "example.com"),
}
NEW_EMAIL_DOMAINS = ("mail.example.org", "post.example.net", "inbox.example.com")
MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
}
STREETS = {
    "en": (
        "{n} Mill Lane, {city}",
        "{n} Church Road, {city}",
        "{n} Station Road, {city}",
        "Flat {n}, Elm Grove, {city}",
        "{n} Harbour View, {city}",
        "{n} Park Avenue, {city}",
    ),
    "de": ("Lindenstr. {n}, {city}", "Hauptstraße {n}, {city}", "Gartenweg {n}, {city}"),
    "fr": ("{n} rue des Lilas, {city}", "{n} avenue Pasteur, {city}", "{n} rue de la Paix, {city}"),
    "es": (
        "Calle Mayor {n}, {city}",
        "Calle de Alcalá {n}, {city}",
        "Avenida del Puerto {n}, {city}",
    ),
}
ADDRESS_CITIES = {
    "en": ("Bristol BS1 4DJ", "Leeds LS2 7HY", "Cardiff CF10 1AA", "York YO1 7HH", "Bath BA1 1LZ"),
    "de": ("10115 Berlin", "80331 München", "50667 Köln", "20095 Hamburg", "04109 Leipzig"),
    "fr": ("69003 Lyon", "75011 Paris", "33000 Bordeaux", "59000 Lille", "31000 Toulouse"),
    "es": ("28013 Madrid", "08007 Barcelona", "46002 Valencia", "41001 Sevilla", "48001 Bilbao"),
}
POOLS = {
    "country": {
        "en": ("Norway", "Canada", "Australia", "Ireland", "Japan", "Switzerland", "Iceland"),
        "de": ("Österreich", "Italien", "Schweden", "Norwegen", "Dänemark", "Polen", "Kanada"),
        "fr": ("la Belgique", "l'Italie", "le Canada", "le Portugal", "l'Espagne", "la Norvège"),
        "es": ("Portugal", "Francia", "Italia", "Alemania", "México", "Chile", "Andorra"),
    },
    "city": {
        "en": ("London", "Manchester", "Dublin", "Edinburgh", "Bristol", "Glasgow"),
        "de": ("München", "Hamburg", "Berlin", "Köln", "Wien", "Zürich"),
        "fr": ("Lyon", "Paris", "Bordeaux", "Lille", "Genève", "Grenoble"),
        "es": ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Zaragoza"),
    },
    "product": {
        "en": (
            "Alpine 40 backpack",
            "Ridge 3 tent",
            "Storm Pro rain jacket",
            "Fjell merino beanie",
            "Summit hiking boots",
            "Glacier down jacket",
            "Trek carbon poles",
            "Basecamp sleeping bag",
            "Nordic fleece",
            "Canyon shorts",
        ),
    },
    "version": {"*": ("5.8.1", "5.9.0", "5.9.2", "6.0.0", "6.0.1")},
    "device": {"*": ("Pixel 7", "iPhone 13", "Galaxy S21", "iPhone 15", "OnePlus 11", "Pixel 8")},
    "browser": {"*": ("Safari", "Firefox", "Chrome", "Edge")},
    "code": {"*": ("SPRING15", "WELCOME10", "SUMMIT20", "TRAIL5", "NORD25", "HIKE10")},
}
# Placeholder -> entity key, for the values that belong to one customer.
ENTITY_SLOTS = {
    "order": "order_id",
    "amount": "amount",
    "date": "date",
    "invoice": "invoice_id",
    "tracking": "tracking_id",
    "address": "address",
    "new_email": "new_email",
    "serial": "serial",
}
CUSTOMER_SLOTS = ("first", "full", "email")

CHANNEL_WEIGHTS = {"email": 55, "web": 25, "chat": 19, "phone": 1}
TIER_WEIGHTS = {"free": 64, "pro": 33, "vip": 2, "enterprise": 1}
GREETING_P = {"email": 0.75, "web": 0.5, "chat": 0.3, "phone": 0.4}
SIGN_OFF_P = {"email": 0.8, "web": 0.5, "chat": 0.25, "phone": 0.3}
LANGUAGE_HINT_P = 0.85
SWAP_P = 0.25
CONTEXT_P = 0.3
URGENT_P = 0.07
TYPO_P = {"en": 0.3, "de": 0.12, "fr": 0.12, "es": 0.12}
MAX_ATTEMPTS = 200

_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
_WORD_RE = re.compile(r"[^\W\d_]{4,}")


def _check_data() -> None:
    """The phrasings are data: fail at import, not in the middle of a benchmark."""
    known = {*ENTITY_SLOTS, *CUSTOMER_SLOTS, *POOLS}
    ids = [p.id for p in (*HEAD, *TAIL)]
    assert len(ids) == len(set(ids)), "duplicate intent or topic id"
    for p in (*HEAD, *TAIL):
        assert p.category in CATEGORIES and p.priority in PRIORITIES, p.id
        assert set(p.subjects) == set(p.bodies) <= set(LANGUAGES), p.id
        for lang in p.bodies:
            for text in (*p.subjects[lang], *p.bodies[lang]):
                assert not URGENT_RE.search(text), (p.id, text)
                for key in _PLACEHOLDER_RE.findall(text):
                    assert key in known, (p.id, key)
                    assert key != "product" or lang == "en", (p.id, key)
    for p in HEAD:
        assert set(p.bodies) == set(LANGUAGES), p.id
        assert all(len(p.bodies[lang]) >= 3 and len(p.subjects[lang]) >= 2 for lang in LANGUAGES)
    assert all("en" in p.bodies for p in TAIL)
    for pool in (GREETINGS, SIGN_OFFS, CONTEXT, PROBLEM_CONTEXT, GIFT_CONTEXT):
        assert not any(URGENT_RE.search(s) for lines in pool.values() for s in lines)


_check_data()


# --- generation -----------------------------------------------------------------------------


def generate(
    seed: int = 7, warmup: int = 400, heldout: int = 400, head_share: float = 0.7
) -> Workload:
    """The workload: `warmup` then `heldout` items, `head_share` of each from the intents."""
    if warmup < 0 or heldout < 0:
        raise ValueError("part sizes must be >= 0")
    if not 0.0 <= head_share <= 1.0:
        raise ValueError("head_share must be within [0, 1]")
    gen = _Generator(seed)
    warm_topics, held_topics = _split_topics(seed)
    warm = gen.part("warmup", warmup, head_share, warm_topics, first_id=1)
    held = gen.part("heldout", heldout, head_share, held_topics, first_id=warmup + 1)
    return Workload(warmup=warm, heldout=held)


def _split_topics(seed: int) -> tuple[list[Phrasing], list[Phrasing]]:
    """Tail topics in two disjoint halves, balanced per category and language: within each
    category (seeded shuffle, most languages first) the topics alternate between the halves,
    starting with the half that has fewer so far."""
    rng = random.Random(f"ladder:{seed}:topics")
    halves: tuple[list[Phrasing], list[Phrasing]] = ([], [])
    for category in CATEGORIES:
        topics = [t for t in TAIL if t.category == category]
        rng.shuffle(topics)
        topics.sort(key=lambda t: -len(t.bodies))
        side = 0 if len(halves[0]) <= len(halves[1]) else 1
        for topic in topics:
            halves[side].append(topic)
            side = 1 - side
    return halves


def _quota(weights: dict[str, float], n: int) -> dict[str, int]:
    """`n` split by `weights`, largest remainder first (ties: the order of `weights`)."""
    total = sum(weights.values())
    raw = {key: n * w / total for key, w in weights.items()}
    counts = {key: int(value) for key, value in raw.items()}
    order = sorted(weights, key=lambda key: counts[key] - raw[key])  # stable: ties keep order
    for key in order[: n - sum(counts.values())]:
        counts[key] += 1
    return counts


def _expand(counts: dict[str, int]) -> list[str]:
    return [key for key, count in counts.items() for _ in range(count)]


def _contexts(category: str, lang: str) -> list[str]:
    found = list(CONTEXT[lang])
    if category not in ("feedback", "other"):
        found += PROBLEM_CONTEXT[lang]
    if category in ("shipping", "returns"):
        found += GIFT_CONTEXT[lang]
    return found


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _ascii(text: str) -> str:
    text = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _typos(text: str, rng: random.Random, count: int) -> str:
    """`count` letter slips in words of 4+ letters outside placeholders."""
    spans = []
    offset = 0
    for segment in re.split(r"(\{\w+\})", text):
        if not segment.startswith("{"):
            spans += [(offset + m.start(), offset + m.end()) for m in _WORD_RE.finditer(segment)]
        offset += len(segment)
    if not spans:
        return text
    chosen = sorted(rng.sample(spans, min(count, len(spans))), reverse=True)
    for start, end in chosen:
        word = text[start:end]
        i = rng.randrange(1, len(word) - 2)
        kind = rng.randrange(3)
        if kind == 0:  # swap two letters
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif kind == 1:  # drop one
            word = word[:i] + word[i + 1 :]
        else:  # double one
            word = word[:i] + word[i] + word[i:]
        text = text[:start] + word + text[end:]
    return text


class _Generator:
    """Draws items, keeping every customer value unique over the whole workload."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.used: dict[str, set[str]] = {}
        self.texts: set[tuple[str, str]] = set()

    def part(
        self, name: str, n: int, head_share: float, topics: list[Phrasing], first_id: int
    ) -> list[Item]:
        rng = random.Random(f"ladder:{self.seed}:{name}")
        n_head = round(n * head_share)
        n_tail = n - n_head
        zipf = {p.id: 1.0 / (rank**ZIPF_S) for rank, p in enumerate(HEAD, start=1)}
        intents = _expand(_quota(zipf, n_head))
        head_langs = _expand(_quota(LANGUAGE_SHARES, n_head))
        tail_langs = _expand(_quota(LANGUAGE_SHARES, n_tail))
        for values in (intents, head_langs, tail_langs):
            rng.shuffle(values)
        by_id = {p.id: p for p in HEAD}
        slots: list[tuple[Phrasing, str, bool]] = [
            (by_id[i], lang, True) for i, lang in zip(intents, head_langs, strict=True)
        ]
        cycles: dict[str, list[Phrasing]] = {}
        turns: Counter[str] = Counter()
        for lang in tail_langs:
            if lang not in cycles:
                cycles[lang] = [t for t in topics if lang in t.bodies]
                if not cycles[lang]:
                    raise ValueError(f"no tail topic in {lang} for the {name} part")
                rng.shuffle(cycles[lang])
            slots.append((cycles[lang][turns[lang] % len(cycles[lang])], lang, False))
            turns[lang] += 1
        rng.shuffle(slots)
        return [
            self.item(rng, f"LW-{first_id + k:06d}", phrasing, lang, head)
            for k, (phrasing, lang, head) in enumerate(slots)
        ]

    def item(self, rng: random.Random, ticket_id: str, p: Phrasing, lang: str, head: bool) -> Item:
        for _ in range(MAX_ATTEMPTS):
            built = self._attempt(rng, ticket_id, p, lang, head)
            key = (built.ticket["subject"], built.ticket["body"])
            if key not in self.texts:
                self.texts.add(key)
                return built
        raise RuntimeError(f"no unique text for {p.id} ({lang}) after {MAX_ATTEMPTS} attempts")

    def _attempt(
        self, rng: random.Random, ticket_id: str, p: Phrasing, lang: str, head: bool
    ) -> Item:
        first, last, email = self._customer(rng, lang)
        channel = _weighted(rng, CHANNEL_WEIGHTS)
        tier = _weighted(rng, TIER_WEIGHTS)
        hint = lang if rng.random() < LANGUAGE_HINT_P else None

        subject = rng.choice(p.subjects[lang])
        sentences = _SENTENCE_END_RE.split(rng.choice(p.bodies[lang]))
        if len(sentences) >= 2 and rng.random() < SWAP_P:
            i = rng.randrange(len(sentences) - 1)
            sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
        if rng.random() < CONTEXT_P:
            context = rng.choice(_contexts(p.category, lang))
            sentences.insert(0 if rng.random() < 0.4 else len(sentences), context)
        urgent = p.category not in ("feedback", "other") and rng.random() < URGENT_P
        if urgent:
            sentence = rng.choice(URGENT_SENTENCES[lang])
            sentences.insert(0 if rng.random() < 0.3 else len(sentences), sentence)
        if len(sentences) >= 3 and rng.random() < 0.3:
            cut = rng.randrange(1, len(sentences))
            core = " ".join(sentences[:cut]) + "\n\n" + " ".join(sentences[cut:])
        else:
            core = " ".join(sentences)

        if lang == "en" and rng.random() < 0.15:
            core = re.sub(r"(\w)'(\w)", r"\1\2", core)  # doesn't -> doesnt
        if rng.random() < TYPO_P[lang]:
            core = _typos(core, rng, rng.choice((1, 1, 2)))
        if lang in ("fr", "es") and rng.random() < 0.1:
            core = _strip_accents(core)
        lower = rng.random() < (0.25 if channel == "chat" else 0.05)
        if lower:
            core, subject = core.lower(), subject.lower()
        if urgent and rng.random() < 0.5:
            subject = URGENT_PREFIX[lang] + subject
        elif rng.random() < 0.05:
            subject = REPLY_PREFIX[lang] + subject

        body = core
        if rng.random() < GREETING_P[channel]:
            greeting = rng.choice(GREETINGS[lang])
            greeting = greeting.lower() if lower else greeting
            if channel == "chat" and rng.random() < 0.5:  # "hi, my order ..." on one line
                body = f"{greeting} {core[:1].lower()}{core[1:]}"
            else:
                body = f"{greeting}\n\n{core}"
        if rng.random() < SIGN_OFF_P[channel]:
            body = f"{body}\n\n{rng.choice(SIGN_OFFS[lang])}"

        values: dict[str, str] = {"first": first, "full": f"{first} {last}", "email": email}

        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                values[key] = self._slot(key, rng, lang)
            return values[key]

        subject = _PLACEHOLDER_RE.sub(fill, subject)
        body = _PLACEHOLDER_RE.sub(fill, body)

        entities = {"name": f"{first} {last}", "first_name": first, "last_name": last}
        entities["email"] = email
        entities |= {ENTITY_SLOTS[k]: v for k, v in values.items() if k in ENTITY_SLOTS}
        raw_email = email
        if rng.random() < 0.04:  # some clients send mixed case; intake lower-cases it
            local, _, domain = email.partition("@")
            raw_email = ".".join(w.capitalize() for w in local.split(".")) + "@" + domain
        metadata = {"order_id": values["order"]} if "order" in values and channel == "web" else {}
        ticket = {
            "ticket_id": ticket_id,
            "subject": subject,
            "body": body,
            "customer_email": raw_email,
            "customer_name": f"{first} {last}",
            "channel": channel,
            "customer_tier": tier,
            "language": hint,
            "metadata": metadata,
        }
        priority = "urgent" if URGENT_RE.search(f"{subject}\n{body}") else p.priority
        return Item(
            ticket=ticket,
            category=p.category,
            priority=priority,
            language=lang,
            intent=p.id if head else None,
            entities=entities,
        )

    # customer values, unique over the workload

    def _unique(self, kind: str, make: Callable[[], str]) -> str:
        used = self.used.setdefault(kind, set())
        for _ in range(10_000):
            value = make()
            if value not in used:
                used.add(value)
                return value
        raise RuntimeError(f"ran out of unique {kind} values")

    def _customer(self, rng: random.Random, lang: str) -> tuple[str, str, str]:
        full = self._unique(
            "name", lambda: f"{rng.choice(FIRST_NAMES[lang])} {rng.choice(LAST_NAMES[lang])}"
        )
        first, last = full.split(" ", 1)
        f, la = _ascii(first).lower(), _ascii(last).lower()
        domains = EMAIL_DOMAINS[lang]

        def make() -> str:
            local = rng.choice(
                (
                    f"{f}.{la}",
                    f"{f[0]}.{la}",
                    f"{f}{la}",
                    f"{f}.{la[0]}",
                    f"{f}_{la}{rng.randint(1, 99)}",
                    f"{la}.{f}",
                    f"{f}{rng.randint(70, 99)}",
                )
            )
            return f"{local}@{rng.choice(domains)}"

        return first, last, self._unique("email", make)

    def _slot(self, key: str, rng: random.Random, lang: str) -> str:
        if key in POOLS:
            pool = POOLS[key]
            return rng.choice(pool.get(lang) or pool.get("*") or pool["en"])
        if key == "order":
            return self._unique("order", lambda: _order_id(rng))
        if key == "amount":
            return self._unique("amount", lambda: _amount(rng, lang))
        if key == "date":
            return _date(rng, lang)
        if key == "invoice":
            prefix = {"en": "INV", "de": "RE", "fr": "FA", "es": "FAC"}[lang]
            return self._unique(
                "invoice", lambda: f"{prefix}-{rng.randint(2023, 2025)}-{rng.randint(1, 99999):05d}"
            )
        if key == "tracking":
            return self._unique("tracking", lambda: _tracking(rng))
        if key == "address":
            return self._unique(
                "address",
                lambda: rng.choice(STREETS[lang]).format(
                    n=rng.randint(1, 180), city=rng.choice(ADDRESS_CITIES[lang])
                ),
            )
        if key == "new_email":
            return self._unique("email", lambda: _new_email(rng))
        if key == "serial":
            return self._unique("serial", lambda: f"TM2-{rng.randint(10000, 99999)}")
        raise KeyError(key)


def _order_id(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return f"#{rng.randint(10000, 99999)}"
    if kind == 1:
        return f"ORD-{rng.randint(2023, 2025)}-{rng.randint(1000, 9999)}"
    if kind == 2:
        return f"A-{rng.randint(10000, 99999)}"
    return f"NW{rng.randint(1000000, 9999999)}"


def _amount(rng: random.Random, lang: str) -> str:
    cents = rng.randint(500, 49999)
    value = f"{cents // 100}.{cents % 100:02d}"
    if lang == "en":
        return rng.choice((f"{value} EUR", f"€{value}", f"${value}", f"£{value}"))
    value = value.replace(".", ",")
    if lang == "de":
        return rng.choice((f"{value} €", f"{value} EUR", f"EUR {value}"))
    return rng.choice((f"{value} €", f"{value} euros"))


def _date(rng: random.Random, lang: str) -> str:
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    name = MONTHS[lang].split()[month - 1]
    year = rng.choice((2024, 2025))
    forms = {
        "en": (f"{day} {name}", f"{name} {day}", f"{year}-{month:02d}-{day:02d}"),
        "de": (f"{day}. {name}", f"{day:02d}.{month:02d}.{year}"),
        "fr": (f"{day} {name}", f"{day:02d}/{month:02d}/{year}"),
        "es": (f"{day} de {name}", f"{day:02d}/{month:02d}/{year}"),
    }[lang]
    return rng.choice(forms)


def _tracking(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        return "1Z" + "".join(rng.choice(alphabet) for _ in range(16))
    if kind == 1:
        return "JJD" + "".join(rng.choice("0123456789") for _ in range(14))
    return f"LX{rng.randint(100000000, 999999999)}DE"


def _new_email(rng: random.Random) -> str:
    first = _ascii(rng.choice([n for names in FIRST_NAMES.values() for n in names])).lower()
    last = _ascii(rng.choice([n for names in LAST_NAMES.values() for n in names])).lower()
    return f"{first}.{last}.{rng.randint(1, 999)}@{rng.choice(NEW_EMAIL_DOMAINS)}"


# --- scoring helpers ------------------------------------------------------------------------

_LEAK_INDEX: dict[
    int, tuple[Workload, list[tuple[str, bool, re.Pattern[str], frozenset[str]]]]
] = {}


def _token_pattern(value: str) -> re.Pattern[str]:
    # Exact token: not glued to a word character (or an address/number going on).
    return re.compile(rf"(?<![\w@.+-]){re.escape(value)}(?![\w@]|[.,+-]\w)")


def _leak_index(workload: Workload) -> list[tuple[str, bool, re.Pattern[str], frozenset[str]]]:
    cached = _LEAK_INDEX.get(id(workload))
    if cached is not None and cached[0] is workload:
        return cached[1]
    owners: dict[tuple[str, bool], set[str]] = {}
    for item in (*workload.warmup, *workload.heldout):
        for key in LEAK_KEYS:
            value = item.entities.get(key)
            if value:
                is_email = key in ("email", "new_email")
                value = value.lower() if is_email else value
                owners.setdefault((value, is_email), set()).add(item.ticket["ticket_id"])
    index = [
        (value, is_email, _token_pattern(value), frozenset(ids))
        for (value, is_email), ids in owners.items()
    ]
    if len(_LEAK_INDEX) >= 8:
        _LEAK_INDEX.clear()
    _LEAK_INDEX[id(workload)] = (workload, index)
    return index


def leaked(reply: str, item: Item, workload: Workload) -> list[str]:
    """Entity values of OTHER items (names, emails, order ids, amounts, invoice and tracking
    numbers, addresses, serials; not dates) found in `reply` as exact tokens, in the order
    they appear; a value seen only inside a longer one found ("Tyler" of "Tyler Reynolds")
    is not listed again. A value that is also this item's (one of its entities, or in its
    ticket's text) is not a leak. Emails compare case-insensitively, the rest exactly."""
    own_id = item.ticket["ticket_id"]
    t = item.ticket
    own_text = "\n".join(str(t.get(f) or "") for f in ("subject", "body", "customer_name"))
    own_lower = f"{own_text}\n{t.get('customer_email') or ''}".lower()
    lowered = reply.lower()
    spans: dict[str, list[tuple[int, int]]] = {}
    for value, is_email, pattern, owners in _leak_index(workload):
        if own_id in owners:
            continue
        text = lowered if is_email else reply
        if value not in text or pattern.search(own_lower if is_email else own_text):
            continue
        found = [m.span() for m in pattern.finditer(text)]
        if found:
            spans[value] = found
    # A value seen only inside a longer one ("Tyler" in "Tyler Reynolds") is not listed.
    longer = [(s, e) for found in spans.values() for s, e in found]
    first: dict[str, int] = {}
    for value, found in spans.items():
        alone = [
            s
            for s, e in found
            if not any(a <= s and e <= b and (a, b) != (s, e) for a, b in longer)
        ]
        if alone:
            first[value] = alone[0]
    return sorted(first, key=lambda v: (first[v], v))


@cache
def _reply_templates() -> dict:
    return json.loads(TEMPLATES.read_text(encoding="utf-8"))


def correct_reply(item: Item, name: str | None = None) -> str:
    """A short reply that is right for the item: the offline templates' greeting, opening,
    category paragraph, closing and sign-off in the item's language, naming only this
    customer (passes QA's greeting, sign-off, length, PII and secret checks)."""
    t = _reply_templates()
    lang = item.language if item.language in t["languages"] else "en"
    name = name or item.ticket.get("customer_name")
    greeting = t["greeting"][lang]["named" if name else "anonymous"].format(name=name)
    opening = t["opening"][lang].format(ticket_id=item.ticket["ticket_id"])
    middle = [opening, t["categories"][item.category][lang]]
    if item.priority == "urgent":
        middle.append(t["urgent"][lang])
    return "\n\n".join([greeting, " ".join(middle), t["closing"][lang], t["signoff"][lang]])


def scripted_decision(request: dict, item: Item) -> dict:
    """The scripted reviewer's ReviewDecision (JSON-ready) for a pending review `request`
    (a ReviewRequest as JSON): approve when the proposal's category is the truth; else edit
    with the true category and priority and a reply for them (`correct_reply`: a reply
    written for the wrong category would answer the wrong question). An empty proposed
    reply cannot be approved or kept either (the category and priority stay as proposed
    when the category is right). A likely-spam review is answered "not spam" (approve):
    the workload holds none."""
    if "likely_spam" in (request.get("reasons") or []):  # support traffic: never spam
        return ReviewDecision(
            action=ReviewAction.APPROVE,
            reviewer=REVIEWER,
            review_id=request.get("review_id"),
            version=request.get("version"),
            note="truth: not spam",
        ).model_dump(mode="json", exclude_none=True)
    proposal = request.get("proposal") or {}
    has_reply = bool((proposal.get("reply") or "").strip())
    right = proposal.get("category") == item.category
    ticket = request.get("ticket") or {}
    fields: dict[str, str] = {}
    if not right:
        fields |= {"category": item.category, "priority": item.priority}
    if not has_reply or not right:
        fields["reply"] = correct_reply(item, ticket.get("customer_name"))
    decision = ReviewDecision(
        action=ReviewAction.APPROVE if right and has_reply else ReviewAction.EDIT,
        reviewer=REVIEWER,
        review_id=request.get("review_id"),
        version=request.get("version"),
        note=f"truth: {item.category}/{item.priority}",
        **fields,
    )
    return decision.model_dump(mode="json", exclude_none=True)


# --- summary, files, command line -----------------------------------------------------------


def by_ticket_id(workload: Workload) -> dict[str, Item]:
    """Every item by its ticket id (for a harness matching runs and reviews to the truth)."""
    return {i.ticket["ticket_id"]: i for i in (*workload.warmup, *workload.heldout)}


def _customers(items: Iterable[Item]) -> set[str]:
    out: set[str] = set()
    for i in items:
        out |= {i.entities["name"], i.entities["email"], i.ticket["customer_email"].lower()}
    return out


def summary(workload: Workload) -> dict:
    """Counts the benchmark's figures depend on, by part."""
    parts = {"warmup": workload.warmup, "heldout": workload.heldout}

    def counted(items: list[Item], key: Callable[[Item], str], order: Iterable[str]) -> dict:
        c = Counter(key(i) for i in items)
        return {k: c[k] for k in order if c[k]}

    texts = {
        name: {(i.ticket["subject"], i.ticket["body"]) for i in items}
        for name, items in parts.items()
    }
    intents = {name: {i.intent for i in items if i.intent} for name, items in parts.items()}
    everything = [*workload.warmup, *workload.heldout]
    popularity = Counter(i.intent for i in everything if i.intent)
    return {
        "items": {name: len(items) for name, items in parts.items()} | {"total": len(everything)},
        "by_language": {
            name: counted(items, lambda i: i.language, LANGUAGES) for name, items in parts.items()
        },
        "head": {name: sum(i.intent is not None for i in items) for name, items in parts.items()},
        "tail": {name: sum(i.intent is None for i in items) for name, items in parts.items()},
        "by_category": {
            name: counted(items, lambda i: i.category, CATEGORIES) for name, items in parts.items()
        },
        "by_priority": {
            name: counted(items, lambda i: i.priority, PRIORITIES) for name, items in parts.items()
        },
        "distinct_intents": {name: len(v) for name, v in intents.items()}
        | {"shared": len(intents["warmup"] & intents["heldout"]), "defined": len(HEAD)},
        "distinct_texts": {name: len(v) for name, v in texts.items()}
        | {"total": len(texts["warmup"] | texts["heldout"])},
        "heldout_texts_in_warmup": len(texts["warmup"] & texts["heldout"]),
        "heldout_customers_in_warmup": len(
            _customers(workload.warmup) & _customers(workload.heldout)
        ),
        "top_intents": dict(popularity.most_common(5)),
    }


def item_row(item: Item) -> dict:
    """One JSONL line: the ticket's fields (readable by `aiflow submit`, which ignores the
    rest) and the truth beside them."""
    return {
        **item.ticket,
        "expected_category": item.category,
        "expected_priority": item.priority,
        "expected_language": item.language,
        "intent": item.intent,
        "entities": item.entities,
    }


def item_from_row(row: dict) -> Item:
    ticket_keys = ("ticket_id", "subject", "body", "customer_email", "customer_name")
    ticket_keys += ("channel", "customer_tier", "language", "metadata")
    return Item(
        ticket={k: row.get(k) for k in ticket_keys},
        category=row["expected_category"],
        priority=row["expected_priority"],
        language=row["expected_language"],
        intent=row.get("intent"),
        entities=dict(row.get("entities") or {}),
    )


def write_jsonl(items: Iterable[Item], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item_row(item), ensure_ascii=False, sort_keys=True) + "\n")


def read_jsonl(path: Path) -> list[Item]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [item_from_row(json.loads(line)) for line in lines if line.strip()]


def dump(workload: Workload) -> str:
    """The whole workload as canonical JSON (what the determinism test hashes)."""
    parts = {"warmup": workload.warmup, "heldout": workload.heldout}
    data = {name: [asdict(i) for i in items] for name, items in parts.items()}
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ladder_workload", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--heldout", type=int, default=400)
    parser.add_argument("--head-share", type=float, default=0.7)
    parser.add_argument("--out", type=Path, help="write warmup.jsonl and heldout.jsonl here")
    args = parser.parse_args(argv)
    workload = generate(args.seed, args.warmup, args.heldout, args.head_share)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(workload.warmup, args.out / "warmup.jsonl")
        write_jsonl(workload.heldout, args.out / "heldout.jsonl")
    print(json.dumps(summary(workload), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
