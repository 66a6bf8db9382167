"""Per-country facts the sample generator draws on.

Kept as plain data so that the realism knobs (population share, income level, currency, phone
ranges, merchants) sit in one place and the generator code stays about mechanics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """What the generator needs to know about one customer locale."""

    locale: str
    cc: str
    currency: str
    weight: float  # share of customers, before normalisation
    income_median: float  # gross annual income of an employed adult, local currency
    eur_rate: float  # local currency units per EUR, to scale amounts
    lang: str  # memo language used for a share of this country's customers
    # (national-number prefix, national-number length, weight): mobile and landline ranges that
    # phonenumbers accepts; the generator still validates every number it builds.
    phone_ranges: tuple[tuple[str, int, float], ...]
    email_domains: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "de_DE", "DE", "EUR", 16, 47_000, 1.0, "de",
        (("151", 11, 3), ("160", 11, 2), ("170", 11, 2), ("176", 11, 2), ("157", 11, 1),
         ("30", 10, 1), ("89", 10, 1), ("40", 10, 0.5), ("221", 10, 0.5), ("69", 10, 0.5)),
        ("gmx.de", "web.de", "t-online.de", "gmail.com", "outlook.de", "posteo.de"),
    ),
    Country(
        "fr_FR", "FR", "EUR", 13, 39_000, 1.0, "fr",
        (("6", 9, 4), ("7", 9, 2), ("1", 9, 1), ("4", 9, 0.5), ("5", 9, 0.5)),
        ("orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr", "hotmail.fr"),
    ),
    Country(
        "it_IT", "IT", "EUR", 11, 30_000, 1.0, "en",
        (("33", 10, 2), ("34", 10, 2), ("32", 10, 1), ("39", 10, 1), ("06", 10, 1),
         ("02", 10, 1)),
        ("libero.it", "gmail.com", "virgilio.it", "alice.it", "hotmail.it", "tiscali.it"),
    ),
    Country(
        "es_ES", "ES", "EUR", 9, 27_000, 1.0, "es",
        (("6", 9, 4), ("71", 9, 1), ("91", 9, 1), ("93", 9, 1), ("96", 9, 0.5)),
        ("gmail.com", "hotmail.es", "yahoo.es", "telefonica.net", "outlook.es"),
    ),
    Country(
        "nl_NL", "NL", "EUR", 5, 46_000, 1.0, "en",
        (("6", 9, 4), ("20", 9, 1), ("10", 9, 0.5), ("70", 9, 0.5), ("30", 9, 0.5)),
        ("ziggo.nl", "kpnmail.nl", "gmail.com", "hotmail.nl", "xs4all.nl"),
    ),
    Country(
        "nl_BE", "BE", "EUR", 3, 45_000, 1.0, "fr",
        (("47", 9, 2), ("48", 9, 2), ("49", 9, 2), ("2", 8, 1), ("3", 8, 1), ("9", 8, 0.5)),
        ("telenet.be", "skynet.be", "gmail.com", "proximus.be", "hotmail.com"),
    ),
    Country(
        "de_AT", "AT", "EUR", 3, 45_000, 1.0, "de",
        (("664", 10, 2), ("650", 10, 1), ("676", 10, 1), ("699", 11, 1), ("680", 10, 1),
         ("1", 8, 1)),
        ("gmx.at", "aon.at", "chello.at", "gmail.com", "a1.net"),
    ),
    Country(
        "pl_PL", "PL", "PLN", 7, 85_000, 4.3, "en",
        (("50", 9, 2), ("51", 9, 1), ("60", 9, 2), ("66", 9, 1), ("69", 9, 1), ("79", 9, 1),
         ("88", 9, 1), ("22", 9, 1), ("12", 9, 0.5)),
        ("wp.pl", "onet.pl", "interia.pl", "o2.pl", "gmail.com"),
    ),
    Country(
        "pt_PT", "PT", "EUR", 3, 20_000, 1.0, "en",
        (("91", 9, 2), ("92", 9, 1), ("93", 9, 2), ("96", 9, 2), ("21", 9, 1), ("22", 9, 0.5)),
        ("sapo.pt", "gmail.com", "hotmail.com", "netcabo.pt", "clix.pt"),
    ),
    Country(
        "sv_SE", "SE", "SEK", 3, 480_000, 11.3, "en",
        (("70", 9, 3), ("72", 9, 1), ("73", 9, 2), ("76", 9, 2), ("8", 9, 1)),
        ("telia.com", "gmail.com", "hotmail.se", "bredband.net", "spray.se"),
    ),
    Country(
        "da_DK", "DK", "DKK", 2, 420_000, 7.46, "en",
        (("2", 8, 3), ("3", 8, 1), ("4", 8, 1), ("5", 8, 1), ("6", 8, 0.5), ("9", 8, 0.5)),
        ("mail.dk", "gmail.com", "hotmail.com", "jubii.dk", "outlook.dk"),
    ),
    Country(
        "fi_FI", "FI", "EUR", 2, 44_000, 1.0, "en",
        (("40", 10, 2), ("44", 10, 1), ("45", 10, 1), ("50", 10, 2), ("9", 9, 1)),
        ("luukku.com", "gmail.com", "hotmail.fi", "elisanet.fi", "kolumbus.fi"),
    ),
    Country(
        "en_IE", "IE", "EUR", 2, 45_000, 1.0, "en",
        (("83", 9, 1), ("85", 9, 1), ("86", 9, 2), ("87", 9, 2), ("89", 9, 1), ("1", 8, 1)),
        ("eircom.net", "gmail.com", "hotmail.com", "yahoo.ie", "outlook.ie"),
    ),
    Country(
        "en_US", "US", "USD", 20, 60_000, 1.08, "en",
        (("212", 10, 1), ("213", 10, 1), ("312", 10, 1), ("415", 10, 1), ("617", 10, 1),
         ("646", 10, 1), ("702", 10, 1), ("713", 10, 1), ("305", 10, 1), ("404", 10, 1),
         ("206", 10, 1), ("503", 10, 1), ("512", 10, 1), ("303", 10, 1), ("602", 10, 1),
         ("214", 10, 1), ("718", 10, 1), ("612", 10, 1), ("216", 10, 1), ("919", 10, 1)),
        ("gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com", "comcast.net"),
    ),
)

BY_CC: dict[str, Country] = {c.cc: c for c in COUNTRIES}

# BIC8 of large US banks: the US has no IBAN, but its banks have SWIFT codes.
US_BICS: tuple[str, ...] = (
    "CHASUS33", "BOFAUS3N", "CITIUS33", "WFBIUS6S", "PNCCUS33", "USBKUS44", "TRUIUS31",
    "MRMDUS33", "IRVTUS3N",
)
# Real ABA routing numbers of those banks (they identify the bank, not the person).
US_ROUTING: tuple[str, ...] = (
    "021000021", "026009593", "021000089", "121000248", "043000096", "091000022", "061000104",
)

# Italian municipality (Belfiore) codes of large cities, for the codice fiscale.
IT_COMUNI: tuple[str, ...] = (
    "H501", "F205", "F839", "L219", "G273", "D969", "A944", "D612", "A662", "C351", "L736",
    "L781", "G224", "B354", "E506",
)

# Merchants by MCC. Card-present and online purchases; transfers and cash are separate kinds.
# (merchant, MCC, log-mean of the EUR amount, log-sd, channel group)
MERCHANTS_COMMON: tuple[tuple[str, str, float, float, str], ...] = (
    ("Amazon", "5399", 3.4, 0.9, "online"),
    ("Netflix", "4899", 2.6, 0.15, "online"),
    ("Spotify", "4899", 2.4, 0.1, "online"),
    ("Apple.com/bill", "5818", 1.8, 0.8, "online"),
    ("Google Play", "5818", 1.7, 0.8, "online"),
    ("Uber", "4121", 2.7, 0.5, "online"),
    ("Booking.com", "7011", 5.3, 0.7, "online"),
    ("Airbnb", "7011", 5.5, 0.7, "online"),
    ("Ryanair", "4511", 4.4, 0.6, "online"),
    ("H&M", "5651", 3.5, 0.6, "pos"),
    ("Zara", "5651", 3.8, 0.6, "pos"),
    ("IKEA", "5712", 4.2, 0.9, "pos"),
    ("McDonald's", "5814", 2.4, 0.4, "pos"),
    ("Starbucks", "5814", 1.8, 0.4, "pos"),
    ("Shell", "5541", 3.9, 0.4, "pos"),
    ("Steam", "5816", 3.0, 0.7, "online"),
    ("PayPal *eBay", "5399", 3.3, 0.9, "online"),
    ("Bet365", "7995", 3.6, 1.0, "online"),
)

MERCHANTS_LOCAL: dict[str, tuple[tuple[str, str, float, float, str], ...]] = {
    "DE": (("REWE", "5411", 3.4, 0.6, "pos"), ("EDEKA", "5411", 3.3, 0.6, "pos"),
           ("Lidl", "5411", 3.2, 0.6, "pos"), ("ALDI SUED", "5411", 3.2, 0.6, "pos"),
           ("dm-drogerie markt", "5912", 2.8, 0.5, "pos"), ("Deutsche Bahn", "4112", 4.0, 0.7, "online"),
           ("MediaMarkt", "5732", 4.8, 1.0, "pos"), ("Zalando", "5651", 4.0, 0.6, "online"),
           ("Vodafone GmbH", "4814", 3.6, 0.3, "direct_debit"),
           ("Stadtwerke Muenchen", "4900", 4.5, 0.4, "direct_debit"),
           ("Aral", "5541", 3.9, 0.4, "pos"), ("Lufthansa", "4511", 5.6, 0.6, "online")),
    "FR": (("Carrefour", "5411", 3.5, 0.6, "pos"), ("E.Leclerc", "5411", 3.6, 0.6, "pos"),
           ("Monoprix", "5411", 3.1, 0.6, "pos"), ("SNCF Connect", "4112", 4.2, 0.7, "online"),
           ("Fnac", "5732", 4.2, 0.9, "pos"), ("Pharmacie", "5912", 2.9, 0.6, "pos"),
           ("EDF", "4900", 4.4, 0.4, "direct_debit"), ("Orange", "4814", 3.5, 0.3, "direct_debit"),
           ("TotalEnergies", "5541", 3.9, 0.4, "pos"), ("Air France", "4511", 5.5, 0.6, "online")),
    "IT": (("Esselunga", "5411", 3.5, 0.6, "pos"), ("Coop", "5411", 3.3, 0.6, "pos"),
           ("Conad", "5411", 3.3, 0.6, "pos"), ("Trenitalia", "4112", 3.8, 0.7, "online"),
           ("Enel Energia", "4900", 4.4, 0.4, "direct_debit"), ("TIM", "4814", 3.4, 0.3, "direct_debit"),
           ("Eni", "5541", 3.9, 0.4, "pos"), ("Farmacia", "5912", 2.8, 0.6, "pos")),
    "ES": (("Mercadona", "5411", 3.5, 0.6, "pos"), ("Carrefour", "5411", 3.5, 0.6, "pos"),
           ("El Corte Ingles", "5311", 4.2, 0.8, "pos"), ("Renfe", "4112", 3.7, 0.7, "online"),
           ("Iberdrola", "4900", 4.3, 0.4, "direct_debit"), ("Movistar", "4814", 3.6, 0.3, "direct_debit"),
           ("Repsol", "5541", 3.9, 0.4, "pos"), ("Farmacia", "5912", 2.8, 0.6, "pos")),
    "NL": (("Albert Heijn", "5411", 3.3, 0.6, "pos"), ("Jumbo", "5411", 3.3, 0.6, "pos"),
           ("bol.com", "5399", 3.6, 0.8, "online"), ("NS", "4112", 3.0, 0.7, "pos"),
           ("Vattenfall", "4900", 4.6, 0.4, "direct_debit"), ("KPN", "4814", 3.6, 0.3, "direct_debit"),
           ("Kruidvat", "5912", 2.7, 0.5, "pos")),
    "BE": (("Delhaize", "5411", 3.4, 0.6, "pos"), ("Colruyt", "5411", 3.5, 0.6, "pos"),
           ("SNCB/NMBS", "4112", 3.0, 0.7, "online"), ("Engie Electrabel", "4900", 4.5, 0.4, "direct_debit"),
           ("Proximus", "4814", 3.7, 0.3, "direct_debit"), ("Kruidvat", "5912", 2.7, 0.5, "pos")),
    "AT": (("BILLA", "5411", 3.3, 0.6, "pos"), ("SPAR", "5411", 3.3, 0.6, "pos"),
           ("HOFER", "5411", 3.2, 0.6, "pos"), ("OEBB", "4112", 3.7, 0.7, "online"),
           ("Wien Energie", "4900", 4.5, 0.4, "direct_debit"), ("A1 Telekom", "4814", 3.5, 0.3, "direct_debit"),
           ("OMV", "5541", 3.9, 0.4, "pos")),
    "PL": (("Biedronka", "5411", 3.2, 0.6, "pos"), ("Zabka", "5499", 2.3, 0.5, "pos"),
           ("Allegro", "5399", 3.6, 0.8, "online"), ("Lidl", "5411", 3.2, 0.6, "pos"),
           ("PKP Intercity", "4112", 3.4, 0.6, "online"), ("Orlen", "5541", 3.8, 0.4, "pos"),
           ("PGE Obrot", "4900", 4.0, 0.4, "direct_debit")),
    "PT": (("Continente", "5411", 3.4, 0.6, "pos"), ("Pingo Doce", "5411", 3.3, 0.6, "pos"),
           ("CP Comboios", "4112", 3.0, 0.6, "online"), ("EDP Comercial", "4900", 4.2, 0.4, "direct_debit"),
           ("MEO", "4814", 3.6, 0.3, "direct_debit"), ("Galp", "5541", 3.9, 0.4, "pos")),
    "SE": (("ICA", "5411", 3.4, 0.6, "pos"), ("Coop", "5411", 3.3, 0.6, "pos"),
           ("SJ", "4112", 3.8, 0.6, "online"), ("Vattenfall", "4900", 4.5, 0.4, "direct_debit"),
           ("Telia", "4814", 3.5, 0.3, "direct_debit"), ("Apoteket", "5912", 2.8, 0.5, "pos")),
    "DK": (("Netto", "5411", 3.2, 0.6, "pos"), ("Foetex", "5411", 3.4, 0.6, "pos"),
           ("DSB", "4112", 3.2, 0.6, "online"), ("Oersted", "4900", 4.5, 0.4, "direct_debit"),
           ("TDC", "4814", 3.5, 0.3, "direct_debit")),
    "FI": (("K-Citymarket", "5411", 3.5, 0.6, "pos"), ("S-Market", "5411", 3.4, 0.6, "pos"),
           ("Prisma", "5411", 3.6, 0.6, "pos"), ("VR", "4112", 3.5, 0.6, "online"),
           ("Fortum", "4900", 4.4, 0.4, "direct_debit"), ("Elisa", "4814", 3.4, 0.3, "direct_debit")),
    "IE": (("Tesco", "5411", 3.5, 0.6, "pos"), ("Dunnes Stores", "5411", 3.5, 0.6, "pos"),
           ("SuperValu", "5411", 3.3, 0.6, "pos"), ("Irish Rail", "4112", 3.2, 0.6, "online"),
           ("Electric Ireland", "4900", 4.6, 0.4, "direct_debit"), ("Eir", "4814", 3.7, 0.3, "direct_debit"),
           ("Aer Lingus", "4511", 5.2, 0.6, "online")),
    "US": (("Walmart", "5411", 3.7, 0.7, "pos"), ("Kroger", "5411", 3.6, 0.6, "pos"),
           ("Target", "5310", 3.7, 0.7, "pos"), ("Costco", "5300", 4.6, 0.6, "pos"),
           ("CVS Pharmacy", "5912", 2.9, 0.6, "pos"), ("Chevron", "5541", 3.8, 0.4, "pos"),
           ("Verizon Wireless", "4814", 4.3, 0.3, "direct_debit"), ("Comcast", "4899", 4.5, 0.3, "direct_debit"),
           ("Delta Air Lines", "4511", 5.8, 0.6, "online"), ("Best Buy", "5732", 4.8, 1.0, "pos"),
           ("Whole Foods", "5411", 3.8, 0.6, "pos")),
}

MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}
