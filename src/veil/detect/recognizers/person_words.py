"""Words that tell a person's name from other capitalized words, and the name lists.

First- and last-name lists come from :mod:`.lexicon` (names-dataset, built into
``veil/detect/data/`` at build time; never Faker's, which ``veil sample`` uses). The word
lists are the context around a name: titles ("Mr", "Frau", "Mme", "Sra."), salutations
("Dear", "Hi", "Hallo"), payee phrases ("transfer to", "paid by", "from", "for"), company
suffixes ("GmbH", "Ltd": an organization, not a person) and capitalized words of payment memos
that are also in the name lists.
"""

from __future__ import annotations

from veil.detect.recognizers import lexicon
from veil.detect.recognizers.dates import MONTHS


def _words(text: str, sep: str | None = None) -> list[str]:
    return [w for w in text.split(sep) if w]


TITLES = frozenset(
    _words(
        "dame dhr don dott dottssa doña dr dña fr frau herr hr m madam mevr miss mlle mme mmes "
        "mr mrs ms mx pan pani prof sig signor signora sigra sir sr sra srta "
        # more titles in the languages a European bank writes in (lower-case, dots dropped)
        "maître monsieur madame mademoiselle señor señora senhor senhora dona dott dottor "
        "dottore avv ing mgr inż dra herrn mevrouw meneer heer mw sayın bay bayan "
        # a family named by its surname ("Familie Wojciechowski", "famille Martin")
        "familie famille familia família famiglia "
        # kinship words used as titles in payment memos ("Gift from Uncle Tunde")
        "uncle aunt auntie grandma grandpa granny cousin onkel tante oma opa tío tía tio tia "
        "zio zia oncle nonna nonno babcia dziadek ciocia wujek"
    )
)

VENUE_WORDS = frozenset(
    _words(
        "line airlines airport airways apartments bakery bar beach bistro books bridge cafe café "
        "card center centre church cinema clinic club college communications company deli "
        "energy express financial foods gallery garden gardens grill group gym hall hospital "
        "hostel hotel house inn insurance kitchen labs lodge mall market media motors museum "
        "outlet park pharmacy pier plaza press pub records resort restaurant salon school "
        "shop spa square stadium station store studio studios telecom theater theatre tours "
        "tower travel union university "
        # head nouns of products and street-like product names ("Jordan Collection", "MB WAY")
        "collection edition series saver package tariff way"
    )
)
"""Head nouns of places and organizations: a run ending in one is no person's name
("Royal Albert Hall", "Western Union", "Apple Store", "Green Park Station")."""

PERSON_VERBS = frozenset(
    _words(
        "paid pays sent sends asked asks called calls requested requests withdrew withdrawn "
        "deposited deposits transferred transfers disputes disputed updated changed signed "
        "wrote writes owes owed said says wants needs approved declined received receives "
        "bought sold booked opened closed lent borrowed reported complained visited confirmed "
        "came comes went goes arrived phoned rang emailed brought dropped stopped "
        "zahlt zahlte überwies paga pagó pagou paie payé betaalt betaalde płaci zapłacił "
        # auxiliaries that open what a person will do or has done ("Tariq will be in ...")
        "will would has had can could should must hat hatte wird heeft ha ma"
    )
)
"""Verbs that make a lone first name opening a text a person ("Rafael paid the rent")."""

HONORIFICS_AFTER = frozenset(_words("bey hanım hanim efendi jr jr. sr. snr jnr ii iii"))
"""Words after a name that are no part of it: Turkish honorifics ("Osman Bey", "Zehra
Hanım'ın") and generational suffixes ("Obasanjo Jr.")."""

SALUTATIONS = tuple(
    _words(
        "dear|hi|hello|hey|hallo|liebe|lieber|sehr geehrte|sehr geehrter|bonjour|cher|chère|"
        "ciao|caro|cara|gentile|hola|querido|querida|estimado|estimada|beste|geachte|hej|kære|"
        "drogi|droga|thanks|thank you|cheers|greetings|attn|attention|"
        # thanks and greetings in the languages a bank's customers write in
        "merci|danke|vielen dank|gracias|grazie|obrigado|obrigada|bedankt|dank je|dank u|"
        "dziękuję|dzięki|teşekkürler|teşekkür ederim|sağol|merhaba|selam|salut|coucou|olá|"
        "buongiorno|buonasera|bonsoir|hoi|moin|servus|cześć|witam|szanowny|szanowna|"
        # a person introducing themselves ("I'm Lucía", "je suis Amandine")
        "i'm|i’m|i am|my name is|name is|this is|it's|je suis|je m'appelle|c'est|ich bin|"
        "ich heiße|soy|me llamo|sono|mi chiamo|ik ben|jestem|nazywam się|eu sou|ben|adım",
        sep="|",
    )
)

PAYEE_WORDS = tuple(
    _words(
        "to|from|by|for|payee|payer|beneficiary|recipient|sender|debtor|creditor|name|customer|"
        "client|holder|owner|an|von|für|à|pour|par|de|a|da|per|para|aan|van|voor|do|od|dla|till|"
        "från|til|fra|with|via|contact|signed|regards|ordered by|behalf of|zugunsten|empfänger|"
        "auftraggeber|bénéficiaire|beneficiario|ordinante|begunstigde|money|fees|dues|"
        "membership|taschengeld|paga|bizum|zelle|present|gift",
        sep="|",
    )
)

COMPANY_WORDS = frozenset(
    _words(
        "a.s. a/s ab ag aps as asociados associates associati b.v. bank brothers bv c.v. cie co "
        "compagnia compagnie company compañía consulting corp corporation cv d.o.o. doo e.g. "
        "e.k. e.v. eg enterprises eurl ev figli fils foundation fratelli frères fund gebr "
        "gebrüder gmbh groep group groupe grupo gruppe gruppo hermanos hijos holding holdings "
        "inc incorporated industries international kft kg kgaa limited llc llp ltd ltda mbb mbh "
        "n.v. nv nyrt o.y. ohg oy oyj partners plc s.a. s.a.r.l. s.a.s. s.c. s.c.p. s.com. "
        "s.coop. s.e. s.l. s.l.l. s.l.n.e s.l.u. s.n.c. s.p.a. s.r.l. sa sarl sas sasu sci se "
        "services sl slu snc solutions sons sp sp.j. sp.k. spa spółka srl stiftung systems "
        "söhne technologies trust ug v.o.f. verein vof zrt "
        # banks and companies named by their kind in the languages of the EU and Turkey
        "banca banco banque bankası bankasi caixa caja crédit credit sparkasse volksbank "
        "raiffeisenbank raiffeisen kasa société societe sociedad società sociedade şirketi "
        "anonim holding "
        # heads of financial firms' names ("Wellington Management", "Washington Mutual")
        "management mutual capital investments investment securities advisors advisers asset "
        "assets bancorp ventures equity finance financing leasing lending brokers wealth "
        "partnership"
    )
)

# Capitalized words common in payment memos that are also in the name lists.
STOPWORDS = frozenset(
    _words(
        "account address affitto airport aldi allowance alquiler amazon american amex amount "
        "amsterdam and annual antwerp apple at atm aunt austrian autumn avenue baby bakery "
        "balance bank bar barcelona beach beauty bedankt beer belgian benefit benefits berlin "
        "best betaling bic bill bills birthday bonifico bonus book books breakfast british "
        "brother brussels burger bus butcher by cafe card care cash central charity cheers chf "
        "child children christmas cinema city claim client clinic clothes club coffee "
        "commission concert contact contract copenhagen county credit customer dad danish danke "
        "date day dear debit dentist department deposit dept dhr dienstag diesel dimanche "
        "dinner direct dividend doctor donation donnerstag dr dublin due dutch east easter "
        "einkauf electricity electronics email english eur euro europe european evening factura "
        "facture factuur fall family fashion father fattura federal fee fees final finnish "
        "firenze fitness flight florence florist flowers food for frankfurt frau freitag french "
        "friday friend friends from fuel fwd game games garden gas gbp gehalt general geneva "
        "german gift global gmbh golf good google gracias grandma grandpa grazie groceries "
        "grocery gross gym hall hamburg happy hardware health hello helsinki herr hi hill "
        "holiday home hospital hotel huur iban ikea in inc installment instalment instant "
        "insurance interest international internet inv invoice irish island italian jeudi "
        "jewelry kebab kids kind lake lastschrift lidl lisboa lisbon loan london love loyer ltd "
        "lunch lundi lyon madrid maestro mail many mardi market marseille mastercard medical "
        "membership merci mercredi metro mevr miete milan milano mittwoch mlle mme mobile mom "
        "monday montag month monthly morning mortgage mother mr mrs ms mum munich music münchen "
        "napoli national net netflix new night north norwegian note notice nómina of office on "
        "online order our outstanding overboeking overdue pagamento pago paid paiement paris "
        "park parking pay payable payment payments paypal pension per pet petrol pharmacy phone "
        "pizza please policy polish port porto portuguese pos prague premium prof pub purchase "
        "re receipt rechnung ref reference refund regards reminder rent repayment restaurant "
        "river road roma rome rotterdam royal salaire salaris salary salon samedi samstag "
        "saturday savings school security sepa service services sevilla shell shoes shop "
        "shopping sig sincerely sister ski sonntag south spa spanish sport sports spotify "
        "spring sr sra standing state station stipendio stockholm store street subscription "
        "summer sunday supermarket support sushi swedish swift swiss tax taxes taxi team tel "
        "tennis tesco thank thanks that the theatre this thursday ticket tickets to today "
        "tomorrow torino total town train transfer transferencia travel tuesday uber uncle "
        "united university urgent usd utilities vacation valencia vat vendredi vet via vienna "
        "village virement visa warsaw water wednesday week weekend weekly wellness west wien "
        "wine winter wire with withdrawal work year yesterday yoga your yours zahlung zurich "
        "zürich überweisung zara aral air france heijn corte ingles inglés esprit "
        "chanel dior lacoste primark decathlon carrefour auchan leclerc rewe edeka kaufland "
        "mercadona eroski continente jumbo hema kruidvat zalando vinted ryanair easyjet "
        "lufthansa iberia renfe sncf"
    )
) | (frozenset(MONTHS) - {"maja"})  # "3 maja": a Polish date, but "Maja" a name

NEVER_NAMES = frozenset(
    _words(
        "bitte el il los las gli het een ein eine und oder bu şu ve ile için pls kindly chat "
        "der die das dem "
        "czat sohbet notiz notatka nota hinweis damen herren ladies gentlemen mesdames messieurs "
        "remarque neu neue neuer nieuw nuevo nueva "
        "nouveau nouvelle nuovo nuova novo nova nowy nowa yeni i'm i’m im i've i’ve i'll i’ll i'd "
        "i’d "
        # weekdays: a day after a capitalized word is no surname ("Black Friday")
        "monday tuesday wednesday thursday friday saturday sunday montag dienstag mittwoch "
        "donnerstag freitag samstag sonntag lundi mardi mercredi jeudi vendredi samedi "
        "dimanche lunes martes miércoles jueves viernes sábado domingo lunedì martedì "
        "mercoledì giovedì venerdì sabato maandag dinsdag woensdag donderdag vrijdag zaterdag "
        "zondag poniedziałek wtorek środa czwartek piątek sobota niedziela segunda terça "
        "quarta quinta sexta pazartesi salı çarşamba perşembe cuma cumartesi pazar"
    )
)
"""Function words and line labels of other languages that open a sentence or a line
("Bitte Ömer Güneş zurückrufen", "El NIE ...", "Sohbet: ..."): never a name, even where a
name list holds them."""

ROLE_WORDS = frozenset(
    _words(
        "head chief officer manager director president vice senior junior analyst adviser "
        "advisor consultant specialist supervisor controller treasurer secretary executive "
        "clerk teller cashier auditor underwriter compliance risk operations relationship "
        "board committee council chair chairman chairwoman ceo cfo coo cro cto cio dpo "
        "leiter leiterin abteilungsleiter abteilungsleiterin filialleiter filialleiterin "
        "vorstand geschäftsführer geschäftsführerin prokurist prokuristin berater beraterin "
        "kundenberater kundenberaterin sachbearbeiter sachbearbeiterin direktor direktorin "
        "vorsitzende vorsitzender aufsichtsrat "
        "directeur directrice responsable conseiller conseillère chargé chargée président "
        "présidente gérant gérante adjoint adjointe comité conseil "
        "directora jefe jefa gerente presidenta consejero consejera asesor asesora consejo "
        "direttore direttrice responsabile consigliere consiglio comitato dirigente "
        "amministratore amministrazione "
        "teamleider afdelingsmanager afdelingshoofd bestuur bestuurder voorzitter adviseur "
        "medewerker "
        "kierownik kierowniczka dyrektor dyrektorka prezes zarząd doradca specjalista "
        "diretor diretora conselho administração responsável "
        "direktör direktør styrelse styrelsen bestyrelse bestyrelsen rådgivare rådgiver "
        "müdür müdürü"
    )
)
"""Job titles and a firm's bodies, capitalized in letters and tickets ("the Senior Manager",
"Leiter Zahlungsverkehr", "Kierownik Oddziału", "Consiglio di Amministrazione"): never a
name's word; "Director Anna Berg" keeps the name after it."""

PRODUCT_WORDS = frozenset(
    _words(
        # accounts and cards in the languages of the EU ("Cuenta Nómina", "Conto Arancio")
        "account konto girokonto sparkonto tagesgeld tagesgeldkonto depot compte livret "
        "cuenta conto conta rekening spaarrekening rachunek lønkonto saver isa "
        "card carte carta tarjeta cartão kaart karte kort kortet "
        # currencies and card tiers
        "sterling pound pounds dollar dollars franc francs krona kronor krone kroner zloty "
        "złoty lira gold silver platinum elite infinite signature classic"
    )
)
"""Product, currency and card-tier words of a bank's copy ("Sterling Reserve", "Mastercard
Gold"): memo words, no names."""

DWELLING_WORDS = frozenset(_words("whg wohnung apt appt apartment flat suite"))
"""A flat's label after a name in a memo ("Miete Dragan Petrović Whg. 4"): no surname."""

STOPWORDS = STOPWORDS | NEVER_NAMES | ROLE_WORDS | PRODUCT_WORDS | DWELLING_WORDS


def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) as folded words (:func:`.lexicon.fold`) from the name lexicon
    built from names-dataset (:mod:`.lexicon`); names that are also common words are left
    out (``lexicon.names().weak``)."""
    lex = lexicon.names()
    return lex.first, lex.last


BANK_WORDS = frozenset(
    _words(
        "ueberweisung überweisung lastschrift gutschrift dauerauftrag eref mref cred svwz abwa "
        "kref sepa ach wire bizum zelle twint swish mobilepay vipps blik"
    )
)
"""Payment-system words that open a memo ("SEPA", "SVWZ+"): never part of a name."""
