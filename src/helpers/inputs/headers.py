"""Header text as the contract compares it, and the columns that identify a person.

Every reader (CSV, workbook) and the cleaning compare text the same way: invisible characters
removed, NFKC, single spaces (:func:`normalise_text`); headers without case, spaces, hyphens or
underscores (:func:`header_key`). A header that names a person, a place they were, a contact
detail or free text is recognised by its words (:func:`is_identifier_header`) and dropped on reading.
"""
from __future__ import annotations

import re
import unicodedata

# Columns that identify a person directly, recognised by what the header means rather than its exact
# spelling. Matched against the header with case and every character other than a letter or digit
# removed ("D.O.B" -> "dob"); contract columns are matched first and never dropped. Words below match
# anywhere in the header ("Caller's phone", "OfficerInCase"); the short words of _IDENTIFIER_TOKENS
# only as a whole word of it ("OIC", "Tel no", "victim_age"), so that "hotel", "choice" or "damage"
# are not taken for them.
_IDENTIFIER_WORDS = (
    # names and people
    "name", "surname", "forename", "initials", "complainant", "witness", "caller", "informant", "reportedby",
    "reportingperson", "contact", "nextofkin", "guardian", "carer", "spouse", "partner",
    # officers (an officer in the case names a person, and narrows a report to a handful)
    "officer", "investigator", "collarnumber", "warrantnumber", "shouldernumber", "payroll",
    # addresses and places a person lives or was
    "address", "street", "housenumber", "houseno", "postcode", "postalcode", "zipcode", "uprn",
    "(?<!al)location", "locality", "venue", "premises", "whereabouts", "gridref", "latitude", "longitude",
    "coordinates", "easting", "northing", "geocode", "what3words",
    # contact details
    "phone", "mobile", "email", "contactno", "contactnumber", "contactdetails", "telno", "telnumber",
    # birth and age
    "dob", "dateofbirth", "birth",
    # official numbers
    "nationalinsurance", "ninumber", "nino", "passport", "drivinglicen", "licenceno", "pncid", "cronumber",
    "vrm", "vehiclereg", "numberplate", "ipaddress",
    # free text, whatever it is called
    "note", "freetext", "comment", "narrative", "summary", "description", "remark", "details", "detail",
    "modusoperandi", "occurrencetext", "circumstances", "observation", "information", "synopsis", "statement",
    "memo", "message", "annotation", "transcript", "story",
)
_IDENTIFIER_WHOLE = (
    "victim", "suspect", "offender", "person", "tel", "telephone", "mo", "flat", "flatno", "flatnumber",
    "age", "victimage", "victimsage", "ageofvictim", "ageyears", "ageinyears", "victimageyears", "exactage",
    "ni", "cro", "pnc",
    "registration", "reg", "text", "zip", "ip",
)
# Short words that identify when they are a whole word of the header, wherever it stands.
_IDENTIFIER_TOKENS = frozenset({
    "oic", "tel", "mo", "ni", "cro", "pnc", "reg", "zip", "ip", "age", "dob", "nok", "pc", "ds", "dc", "di",
    "text", "info", "log", "desc", "obs", "update", "account", "lat", "lon", "lng", "geo", "gps", "flat", "who",
})
IDENTIFIER_PATTERN = re.compile(
    "|".join(sorted(set(_IDENTIFIER_WORDS), key=len, reverse=True))
    + "|" + "|".join(rf"^{w}$" for w in _IDENTIFIER_WHOLE)
)
HEADER_SEARCH_LINES = 10  # lines looked at for a header below a title

# Characters that show as nothing (zero-width spaces and joiners, byte-order marks, soft hyphens).
# Zero-width and soft characters, and the bidirectional controls (U+200E/F, U+061C, U+202A-E,
# U+2066-9), which reverse how text displays and split one place into several.
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u061c\u202a-\u202e"
                       "\u2066-\u2069]")


def normalise_text(text: str) -> str:
    """Text as a person reads it: invisible characters removed, NFKC, single spaces, trimmed.

    NFKC turns compatibility forms into their plain letters (a non-breaking space into a space,
    full-width "Ｗ０１" into "W01"), so that values that look the same compare the same.
    """
    text = INVISIBLE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def header_key(name: object) -> str:
    """A header as the contract compares it: lower case, no spaces, hyphens or underscores."""
    return re.sub(r"[\s\-_]+", "", normalise_text(str(name))).casefold()


def identifier_key(name: object) -> str:
    """A header as the identifier pattern sees it: lower-case letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", normalise_text(str(name)).casefold())


def header_words(name: object) -> list[str]:
    """The words of a header: split at anything but letters and digits, and where camelCase turns."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])", " ", normalise_text(str(name)))
    return [word for word in re.split(r"[^0-9a-z]+", text.casefold()) if word]


def is_identifier_header(name: object) -> bool:
    """Whether a header names a column that identifies a person or holds free text (checked after the
    contract's names): by the words it contains, not only its exact spelling."""
    key = identifier_key(name)
    if not key:
        return False
    return IDENTIFIER_PATTERN.search(key) is not None or any(word in _IDENTIFIER_TOKENS for word in header_words(name))


def column_letter(position: int) -> str:
    """The spreadsheet letter of a 0-based column position: 0 -> A, 27 -> AB."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def sheet_label(file: str, sheet: str | None) -> str:
    return file if sheet is None else f"{file} (sheet '{sheet}')"
